//! Plain Python values (dicts with string keys, lists, tuples, strings, numbers, booleans, `None`)
//! to and from the JSON values serde reads a plugin's options from: options cross the boundary as
//! Python objects, never as JSON text. (`pythonize` does this for other PyO3 versions; none for
//! the PyO3 this package builds with.)

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// Deepest nesting of dicts and lists an option may have (a dict that holds itself would
/// recurse without end).
pub const MAX_DEPTH: usize = 64;

/// The JSON value of a plain Python value; `what` names it in the error for anything else
/// (a `TypeError`), and for values nested deeper than [`MAX_DEPTH`].
pub fn json_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    json_at(obj, what, 0)
}

/// [`json_of`] of a value `depth` levels down.
fn json_at(obj: &Bound<'_, PyAny>, what: &str, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "{what} are nested more than {MAX_DEPTH} levels deep (a dict or list that holds \
             itself?)"
        )));
    }
    let plain = || {
        PyTypeError::new_err(format!(
            "{what} must be plain values (numbers, strings, lists, dicts), got {}",
            obj.repr()
                .map_or_else(|_| "?".to_string(), |r| r.to_string())
        ))
    };
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if obj.cast::<PyFloat>().is_ok() {
        let x: f64 = obj.extract()?;
        return finite(x, what);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key: String = k.cast::<PyString>().map_err(|_| plain())?.extract()?;
            let value = json_at(&v, what, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let items = obj
            .try_iter()?
            .map(|item| json_at(&item?, what, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::Array(items));
    }
    // Python and NumPy integers (anything with __index__)
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(Value::from(u));
    }
    if obj.cast::<PyInt>().is_ok() {
        return Err(crate::value_error(format!(
            "{what} must fit 64 bits, got a whole number of {} digits",
            obj.str().map_or(0, |s| s.len().unwrap_or(0))
        )));
    }
    // NumPy floating scalars (anything with __float__)
    if let Ok(x) = obj.extract::<f64>() {
        return finite(x, what);
    }
    Err(plain())
}

/// A float option as a JSON number; NaN and the infinities (which JSON cannot hold, and no
/// option takes) are a `ValueError` naming them.
fn finite(x: f64, what: &str) -> PyResult<Value> {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| crate::value_error(format!("{what} must be finite numbers, got {x}")))
}

/// The Python value of a JSON value (dicts, lists, strings, numbers, booleans, `None`).
pub fn py_of<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| py_of(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let d = PyDict::new(py);
            for (k, v) in map {
                d.set_item(k, py_of(py, v)?)?;
            }
            d.into_any()
        }
    })
}
