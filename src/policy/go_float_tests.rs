//! Vectors for `go_float::parse`: each expected value is what Go 1.26's
//! `strconv.ParseFloat(s, 64)` returned for the input (bits, so signs of zero
//! and rounding are exact); `None` where Go returned an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::parse;

const VECTORS: &[(&str, Option<f64>)] = &[
    ("0", Some(f64::from_bits(0x0000000000000000))),  // 0
    ("1", Some(f64::from_bits(0x3ff0000000000000))),  // 1
    ("-0", Some(f64::from_bits(0x8000000000000000))), // -0
    ("+3", Some(f64::from_bits(0x4008000000000000))), // 3
    ("-3", Some(f64::from_bits(0xc008000000000000))), // -3
    ("00012", Some(f64::from_bits(0x4028000000000000))), // 12
    ("1.5", Some(f64::from_bits(0x3ff8000000000000))), // 1.5
    (".5", Some(f64::from_bits(0x3fe0000000000000))), // 0.5
    ("5.", Some(f64::from_bits(0x4014000000000000))), // 5
    ("1.e2", Some(f64::from_bits(0x4059000000000000))), // 100
    (".5e1", Some(f64::from_bits(0x4014000000000000))), // 5
    ("1e5", Some(f64::from_bits(0x40f86a0000000000))), // 100000
    ("1E+05", Some(f64::from_bits(0x40f86a0000000000))), // 100000
    ("1e-5", Some(f64::from_bits(0x3ee4f8b588e368f1))), // 1e-05
    ("-.25", Some(f64::from_bits(0xbfd0000000000000))), // -0.25
    ("1_000", Some(f64::from_bits(0x408f400000000000))), // 1000
    ("1_000.000_1", Some(f64::from_bits(0x408f4000346dc5d6))), // 1000.0001
    ("1e1_0", Some(f64::from_bits(0x4202a05f20000000))), // 1e+10
    ("0_1", Some(f64::from_bits(0x3ff0000000000000))), // 1
    ("_1", None),
    ("1_", None),
    ("1__0", None),
    ("1_.5", None),
    ("1._5", None),
    ("1_e5", None),
    ("1e_5", None),
    ("+_1", None),
    ("-1_0", Some(f64::from_bits(0xc024000000000000))), // -10
    ("Inf", Some(f64::INFINITY)),
    ("inf", Some(f64::INFINITY)),
    ("+Inf", Some(f64::INFINITY)),
    ("-inf", Some(f64::NEG_INFINITY)),
    ("INFINITY", Some(f64::INFINITY)),
    ("-Infinity", Some(f64::NEG_INFINITY)),
    ("infin", None),
    ("infinityy", None),
    ("NaN", Some(f64::NAN)),
    ("nan", Some(f64::NAN)),
    ("+nan", None),
    ("-NaN", None),
    ("0x1p3", Some(f64::from_bits(0x4020000000000000))), // 8
    ("0X1P-2", Some(f64::from_bits(0x3fd0000000000000))), // 0.25
    ("0x1.8p1", Some(f64::from_bits(0x4008000000000000))), // 3
    ("0x.8p1", Some(f64::from_bits(0x3ff0000000000000))), // 1
    ("0x1.p0", Some(f64::from_bits(0x3ff0000000000000))), // 1
    ("0x_1p4", Some(f64::from_bits(0x4030000000000000))), // 16
    ("0x1_0p0", Some(f64::from_bits(0x4030000000000000))), // 16
    ("0x1p", None),
    ("0x1", None),
    ("0x", None),
    ("0xp1", None),
    ("0x1_p0", None),
    ("0x1p1_0", Some(f64::from_bits(0x4090000000000000))), // 1024
    ("-0x1p-1074", Some(f64::from_bits(0x8000000000000001))), // -5e-324
    ("0x1p-1075", Some(f64::from_bits(0x0000000000000000))), // 0
    ("0x1.8p-1074", Some(f64::from_bits(0x0000000000000002))), // 1e-323
    ("0x1p1023", Some(f64::from_bits(0x7fe0000000000000))), // 8.98846567431158e+307
    ("0x1p1024", None),
    ("0x1.fffffffffffff8p1023", None),
    (
        "0x1.fffffffffffff7ffp1023",
        Some(f64::from_bits(0x7fefffffffffffff)),
    ), // 1.7976931348623157e+308
    (
        "0x1.00000000000008p0",
        Some(f64::from_bits(0x3ff0000000000000)),
    ), // 1
    (
        "0x1.000000000000080000001p0",
        Some(f64::from_bits(0x3ff0000000000001)),
    ), // 1.0000000000000002
    (
        "0x1.00000000000018p0",
        Some(f64::from_bits(0x3ff0000000000002)),
    ), // 1.0000000000000004
    (
        "0x123456789abcdef0123p0",
        Some(f64::from_bits(0x44723456789abcdf)),
    ), // 5.373003642731685e+21
    ("0x0.0000001p0", Some(f64::from_bits(0x3e30000000000000))), // 3.725290298461914e-09
    (
        "0x00000000000000000000001p0",
        Some(f64::from_bits(0x3ff0000000000000)),
    ), // 1
    ("1e400", None),
    ("-1e400", None),
    ("1e-400", Some(f64::from_bits(0x0000000000000000))), // 0
    (
        "1.7976931348623157e308",
        Some(f64::from_bits(0x7fefffffffffffff)),
    ), // 1.7976931348623157e+308
    ("1.7976931348623159e308", None),
    ("4.9e-324", Some(f64::from_bits(0x0000000000000001))), // 5e-324
    ("2e-324", Some(f64::from_bits(0x0000000000000000))),   // 0
    ("", None),
    (".", None),
    ("e5", None),
    ("1e", None),
    ("1e+", None),
    ("1.2.3", None),
    (" 1", None),
    ("1 ", None),
    ("1,5", None),
    ("0b101", None),
    ("0o7", None),
    ("1f", None),
    ("1d", None),
    ("١", None),
    (
        "12345678901234567890123",
        Some(f64::from_bits(0x4484ea15b273b38a)),
    ), // 1.2345678901234568e+22
];

#[test]
fn parses_as_go_parse_float() {
    let mut failures = Vec::new();
    for &(text, expected) in VECTORS {
        let got = parse(text);
        let same = match (got, expected) {
            (Some(a), Some(b)) if b.is_nan() => a.is_nan(),
            (Some(a), Some(b)) => a.to_bits() == b.to_bits(),
            (None, None) => true,
            _ => false,
        };
        if !same {
            failures.push(format!("{text:?}: {got:?}, Go gives {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
