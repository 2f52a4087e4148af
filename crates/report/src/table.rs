//! A report table as one list of columns: each [`Column`] names its Markdown header, its CSV
//! column names and how a row's value is shown in both, so the two files cannot drift apart.

use crate::ResultsError;
use crate::summary::Cell;
use std::path::Path;

/// A value of one row in one column: its Markdown text and its CSV fields (as many as the
/// column has CSV names).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Shown in `report.md` (unused by a CSV-only column).
    pub text: String,
    /// Written to the CSV file.
    pub csv: Vec<String>,
}

impl Field {
    /// A value shown the same in both files.
    pub fn same(v: impl ToString) -> Field {
        let v = v.to_string();
        Field {
            text: v.clone(),
            csv: vec![v],
        }
    }
}

/// One column of a table over items of type `R`.
pub struct Column<'a, R> {
    /// Markdown header; `None`: the column is in the CSV file only.
    pub header: Option<String>,
    /// CSV column names (none: the column is in the Markdown only).
    pub csv: Vec<String>,
    /// The value of an item.
    pub value: Box<dyn Fn(&R) -> Field + 'a>,
}

impl<'a, R> Column<'a, R> {
    /// A column in both files under one name each.
    pub fn new(header: &str, csv: &str, value: impl Fn(&R) -> Field + 'a) -> Self {
        Column {
            header: Some(header.to_string()),
            csv: vec![csv.to_string()],
            value: Box::new(value),
        }
    }

    /// A column of the CSV file only.
    pub fn csv_only(csv: &str, value: impl Fn(&R) -> String + 'a) -> Self {
        Column {
            header: None,
            csv: vec![csv.to_string()],
            value: Box::new(move |r| Field {
                text: String::new(),
                csv: vec![value(r)],
            }),
        }
    }
}

/// The four columns of a cell (dataset, model, mode, batch size), `cell` picking it from an item.
pub fn cell_columns<'a, R: 'a>(cell: fn(&R) -> &Cell) -> Vec<Column<'a, R>> {
    vec![
        Column::new("dataset", "dataset", move |r| Field::same(&cell(r).0)),
        Column::new("model", "model", move |r| Field::same(&cell(r).1)),
        Column::new("mode", "mode", move |r| Field::same(&cell(r).2)),
        Column::new("bs", "batch_size", move |r| Field::same(cell(r).3)),
    ]
}

/// A table made: headers and the rows' fields, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Markdown headers (`None`: CSV-only column).
    pub headers: Vec<Option<String>>,
    /// CSV names per column.
    pub csv_names: Vec<Vec<String>>,
    /// Rows: one field per column.
    pub rows: Vec<Vec<Field>>,
}

impl Table {
    /// The table of `items` under `columns`.
    pub fn of<R>(columns: &[Column<'_, R>], items: impl IntoIterator<Item = R>) -> Table {
        Table {
            headers: columns.iter().map(|c| c.header.clone()).collect(),
            csv_names: columns.iter().map(|c| c.csv.clone()).collect(),
            rows: items
                .into_iter()
                .map(|r| columns.iter().map(|c| (c.value)(&r)).collect())
                .collect(),
        }
    }

    /// The Markdown table (header, rule, rows) of the columns that have a header.
    pub fn markdown(&self) -> String {
        let shown: Vec<usize> = (0..self.headers.len())
            .filter(|&i| self.headers[i].is_some())
            .collect();
        let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
        let mut md = line(
            shown
                .iter()
                .map(|&i| self.headers[i].as_deref().unwrap_or_default())
                .collect(),
        );
        md.push_str(&format!("|{}\n", "---|".repeat(shown.len())));
        for row in &self.rows {
            md.push_str(&line(shown.iter().map(|&i| row[i].text.as_str()).collect()));
        }
        md
    }

    /// The CSV header: every column's CSV names in order.
    pub fn csv_header(&self) -> Vec<&str> {
        self.csv_names
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The CSV records.
    pub fn csv_rows(&self) -> Vec<Vec<&str>> {
        self.rows
            .iter()
            .map(|r| {
                r.iter()
                    .flat_map(|f| f.csv.iter().map(String::as_str))
                    .collect()
            })
            .collect()
    }

    /// Writes the CSV file.
    pub fn write_csv(&self, path: &Path) -> Result<(), ResultsError> {
        let fail = |m: String| ResultsError::Write {
            path: path.to_path_buf(),
            message: m,
        };
        let mut w = csv::Writer::from_path(path).map_err(|e| fail(e.to_string()))?;
        w.write_record(self.csv_header())
            .map_err(|e| fail(e.to_string()))?;
        for r in self.csv_rows() {
            w.write_record(r).map_err(|e| fail(e.to_string()))?;
        }
        w.flush().map_err(|e| fail(e.to_string()))
    }
}

/// `mean ± sd` with `digits` decimals; `-` for a NaN mean, the mean alone for a NaN sd.
pub fn pm(x: (f64, f64), digits: usize) -> String {
    if x.0.is_nan() {
        "-".into()
    } else if x.1.is_nan() {
        format!("{:.*}", digits, x.0)
    } else {
        format!("{:.*} ± {:.*}", digits, x.0, digits, x.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_column_list_drives_markdown_and_csv() {
        type Item = (u32, f64);
        let cols: Vec<Column<'_, Item>> = vec![
            Column::new("n", "count", |r: &Item| Field::same(r.0)),
            Column {
                header: Some("x ± sd".into()),
                csv: vec!["x_mean".into(), "x_sd".into()],
                value: Box::new(|r: &Item| Field {
                    text: pm((r.1, 0.5), 2),
                    csv: vec![r.1.to_string(), "0.5".into()],
                }),
            },
            Column::csv_only("hidden", |r: &Item| format!("h{}", r.0)),
        ];
        let t = Table::of(&cols, [(1, 2.0), (3, f64::NAN)]);
        assert_eq!(
            t.markdown(),
            "| n | x ± sd |\n|---|---|\n| 1 | 2.00 ± 0.50 |\n| 3 | - |\n"
        );
        assert_eq!(t.csv_header(), ["count", "x_mean", "x_sd", "hidden"]);
        assert_eq!(t.csv_rows()[1], ["3", "NaN", "0.5", "h3"]);
    }

    #[test]
    fn plus_minus_shows_what_is_known() {
        assert_eq!(pm((1.23456, 0.1), 3), "1.235 ± 0.100");
        assert_eq!(pm((1.5, f64::NAN), 1), "1.5");
        assert_eq!(pm((f64::NAN, 1.0), 1), "-");
    }
}
