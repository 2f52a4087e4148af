//! The column files' header: NumPy's `.npy` format, version 1.0 (little-endian, C order), padded
//! to a fixed [`HEADER`] bytes so that the shape can be rewritten in place as rows are appended
//! (NumPy's own writer sizes the header to its shape, which would move the data). NumPy reads
//! these files as they are (`np.load(path, mmap_mode="r")`).

/// The header's length: the magic, the version, the length field and the padded dictionary. A
/// multiple of 64, so the data that follows is aligned for every element type.
pub const HEADER: usize = 128;

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// An element type of a column, with NumPy's name for it.
pub trait Element: bytemuck::Pod {
    /// NumPy's `descr` of the type (`<f4`, `|u1`, ...).
    const DESCR: &'static str;
}

macro_rules! element {
    ($($t:ty => $d:literal),* $(,)?) => {$(
        impl Element for $t {
            const DESCR: &'static str = $d;
        }
    )*};
}

element!(u8 => "|u1", u32 => "<u4", u64 => "<u8", i32 => "<i4", f32 => "<f4", f64 => "<f8");

/// The header of a column of `rows` rows of `width` elements (`width` empty: scalar rows).
pub fn header(descr: &str, rows: u64, width: &[usize]) -> [u8; HEADER] {
    let mut shape = rows.to_string();
    if width.is_empty() {
        shape.push(',');
    }
    for w in width {
        shape.push_str(&format!(", {w}"));
    }
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}");
    let mut out = [b' '; HEADER];
    out[..MAGIC.len()].copy_from_slice(MAGIC);
    let len = u16::try_from(HEADER - MAGIC.len() - 2).unwrap_or(u16::MAX);
    out[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&len.to_le_bytes());
    let start = MAGIC.len() + 2;
    // the dictionary's longest form (20-digit rows, a 3x3 width) is far below the space left
    let end = (start + dict.len()).min(HEADER - 1);
    out[start..end].copy_from_slice(&dict.as_bytes()[..end - start]);
    out[HEADER - 1] = b'\n';
    out
}

/// The (descr, rows, width) a header written by [`header`] holds, or why it is not one.
pub fn parse(bytes: &[u8]) -> Result<(String, u64, Vec<usize>), String> {
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a NumPy 1.0 column file of this store (its header is missing)".into());
    }
    let len = u16::from_le_bytes([bytes[MAGIC.len()], bytes[MAGIC.len() + 1]]) as usize;
    if MAGIC.len() + 2 + len != HEADER {
        return Err(format!(
            "a header of {len} bytes, not this store's {HEADER}"
        ));
    }
    let dict = std::str::from_utf8(&bytes[MAGIC.len() + 2..HEADER])
        .map_err(|_| "a header that is not text".to_string())?;
    let field = |key: &str, close: char| -> Result<&str, String> {
        let at = dict
            .find(key)
            .ok_or_else(|| format!("no {key} in the header {dict:?}"))?;
        let rest = &dict[at + key.len()..];
        let end = rest
            .find(close)
            .ok_or_else(|| format!("an unterminated {key} in the header {dict:?}"))?;
        Ok(&rest[..end])
    };
    if field("'fortran_order': ", ',')? != "False" {
        return Err("a column in Fortran order".into());
    }
    let descr = field("'descr': '", '\'')?.to_string();
    let dims = field("'shape': (", ')')?
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u64>().map_err(|_| format!("a shape entry {d:?}")))
        .collect::<Result<Vec<u64>, String>>()?;
    let (&rows, width) = dims
        .split_first()
        .ok_or_else(|| "an empty shape".to_string())?;
    let width = width
        .iter()
        .map(|&w| usize::try_from(w).map_err(|_| format!("a row width {w}")))
        .collect::<Result<Vec<usize>, String>>()?;
    Ok((descr, rows, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back_and_keep_their_length_for_any_shape() {
        for (rows, width) in [(0, vec![]), (7, vec![3]), (u64::MAX, vec![3, 3])] {
            let h = header("<f4", rows, &width);
            assert_eq!(h.len(), HEADER);
            assert_eq!(parse(&h).unwrap(), ("<f4".to_string(), rows, width));
        }
        let mut bad = header("<u4", 5, &[]);
        bad[0] = b'x';
        assert!(parse(&bad).is_err());
    }
}
