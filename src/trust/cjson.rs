//! The canonical JSON that TUF / securesystemslib sign and hash ("OLPC-style"): object keys
//! sorted by code point, no whitespace, strings escaped only for `"` and `\` (every other
//! character written raw, control characters included), integers only.
//!
//! It differs from RFC 8785 ([`crate::json::canonical_value`]) in string escaping (RFC 8785
//! writes `\n` for a newline; securesystemslib writes the raw byte) and in refusing
//! non-integers. TUF signatures are over this form of the `signed` object, and securesystemslib
//! key ids are the SHA-256 of this form of the key description, so both must be computed here
//! byte for byte as python-tuf does. For ASCII without control characters both forms agree.

use serde_json::Value;

/// A value that has no securesystemslib canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("value {0} has no TUF canonical JSON form (only integers, strings, booleans, null, arrays and objects do)")]
pub struct CjsonError(pub String);

/// Canonical bytes of `v`.
pub fn canonical(v: &Value) -> Result<Vec<u8>, CjsonError> {
    let mut out = Vec::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), CjsonError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CjsonError(n.to_string()));
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // UTF-8 byte order is code point order, which is Python's `sorted` order for str.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(&m[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_securesystemslib_encoding() {
        let v: Value = serde_json::from_str(r#"{"b":[1,-2,true,null],"a":"x\"y\\z\n","é":{}}"#).unwrap();
        assert_eq!(canonical(&v).unwrap(), "{\"a\":\"x\\\"y\\\\z\n\",\"b\":[1,-2,true,null],\"é\":{}}".as_bytes());
        let f: Value = serde_json::from_str("1.5").unwrap();
        assert!(canonical(&f).is_err());
    }
}
