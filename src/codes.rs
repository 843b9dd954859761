//! Validation and normalisation of the natural codes clients send. Codes are matched
//! case-insensitively and stored upper case.
//!
//! A code is checked once, where the client's value enters (GraphQL arguments, REST paths,
//! the bundled history's JSON): `OdsCode::parse` and its siblings return a type that only a
//! passed check makes, so the services that take one never check again.
use crate::errors::AppError;

/// Declares a code type: a trimmed, upper-case code that passed `$check`, made only by `parse`.
macro_rules! code_type {
    ($(#[$meta:meta])* $name:ident, $check:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl std::str::FromStr for $name {
            type Err = AppError;

            fn from_str(raw: &str) -> Result<Self, AppError> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = AppError;

            fn try_from(raw: String) -> Result<Self, AppError> {
                Self::parse(&raw)
            }
        }

        impl $name {
            /// Checks and normalises a code as a client sent it; `BAD_USER_INPUT` (naming the
            /// rule) when it is malformed.
            pub fn parse(raw: &str) -> Result<Self, AppError> {
                $check(raw).map(Self)
            }

            /// The normalised code.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The normalised code, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_type!(
    /// An ODS code: 3 to 10 letters and digits (sites, trusts, boards, ICBs).
    OdsCode,
    ods_code
);
code_type!(
    /// A PDU code: `PZ` and 3 digits.
    PzCode,
    pz_code
);
code_type!(
    /// A Paediatric Diabetes Network code: `PN` and 2 digits.
    PnCode,
    pn_code
);
code_type!(
    /// An ONS/GSS code: a letter and 8 digits (London boroughs, countries).
    GssCode,
    gss_code
);
code_type!(
    /// An NHS England region code, e.g. Y56.
    RegionCode,
    region_code
);
code_type!(
    /// An OPEN UK network code, e.g. BRPNF.
    NetworkCode,
    network_code
);

fn normalise(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

fn malformed(kind: &str, raw: &str, rule: &str) -> AppError {
    // Echo at most a short prefix: codes can be arbitrarily long or hostile.
    let shown: String = raw.chars().take(16).collect();
    let ellipsis = if raw.chars().count() > 16 { "…" } else { "" };
    AppError::BadUserInput(format!(
        "'{shown}{ellipsis}' is not a valid {kind}: {rule}."
    ))
}

/// ODS code: 3 to 10 letters and digits.
fn ods_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (3..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "ODS code",
            raw,
            "expected 3 to 10 letters and digits",
        ))
    }
}

fn prefixed_digits(raw: &str, prefix: &str, digits: usize, kind: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    let ok = code.len() == prefix.len() + digits
        && code.starts_with(prefix)
        && code[prefix.len()..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(code)
    } else {
        Err(malformed(
            kind,
            raw,
            &format!("expected {prefix} followed by {digits} digits"),
        ))
    }
}

/// PDU code: `PZ` and 3 digits.
fn pz_code(raw: &str) -> Result<String, AppError> {
    prefixed_digits(raw, "PZ", 3, "PZ code")
}

/// Diabetes network code: `PN` and 2 digits.
fn pn_code(raw: &str) -> Result<String, AppError> {
    prefixed_digits(raw, "PN", 2, "PN code")
}

/// ONS/GSS code: one letter and 8 digits (E09000001, E92000001, W11000023).
fn gss_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    let b = code.as_bytes();
    if b.len() == 9 && b[0].is_ascii_alphabetic() && b[1..].iter().all(u8::is_ascii_digit) {
        Ok(code)
    } else {
        Err(malformed(
            "ONS/GSS code",
            raw,
            "expected a letter followed by 8 digits",
        ))
    }
}

/// NHS England region code, e.g. Y56.
fn region_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (3..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "region code",
            raw,
            "expected 3 to 5 letters and digits, e.g. Y56",
        ))
    }
}

/// OPEN UK network code, e.g. BRPNF.
fn network_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (2..=12).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "OPEN UK network code",
            raw,
            "expected 2 to 12 letters and digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_normalised_and_checked() {
        assert_eq!(ods_code(" rvv01 ").ok().as_deref(), Some("RVV01"));
        assert!(ods_code("RV").is_err());
        assert!(ods_code("RVV-01").is_err());
        assert!(ods_code("ABCDEFGHIJK").is_err());
        assert!(ods_code("ÄBC").is_err());
    }

    #[test]
    fn pz_pn_and_gss_codes() {
        assert_eq!(pz_code("pz024").ok().as_deref(), Some("PZ024"));
        assert!(pz_code("PZ24").is_err());
        assert!(pz_code("PX024").is_err());
        assert_eq!(pn_code("pn01").ok().as_deref(), Some("PN01"));
        assert!(pn_code("PN001").is_err());
        assert_eq!(gss_code("e09000001").ok().as_deref(), Some("E09000001"));
        assert!(gss_code("E0900000").is_err());
    }

    #[test]
    fn code_types_hold_the_normalised_code_and_refuse_as_the_checks_do() {
        let ods = OdsCode::parse(" rvv01 ").map(OdsCode::into_string);
        assert_eq!(ods.ok().as_deref(), Some("RVV01"));
        assert_eq!(
            PzCode::parse("pz024")
                .ok()
                .map(|c| c.to_string())
                .as_deref(),
            Some("PZ024")
        );
        assert_eq!(
            PnCode::parse("pn01").ok().as_ref().map(PnCode::as_str),
            Some("PN01")
        );
        assert_eq!(
            GssCode::parse("e09000001").ok().as_ref().map(AsRef::as_ref),
            Some("E09000001")
        );
        assert_eq!(
            RegionCode::parse("y56")
                .ok()
                .as_ref()
                .map(RegionCode::as_str),
            Some("Y56")
        );
        assert_eq!(
            NetworkCode::parse("brpnf")
                .ok()
                .as_ref()
                .map(NetworkCode::as_str),
            Some("BRPNF")
        );
        // Same errors, message and all, as the text checks.
        let message = |e: AppError| e.to_string();
        assert_eq!(
            OdsCode::parse("RV-1").err().map(message),
            ods_code("RV-1").err().map(message)
        );
        assert_eq!(
            PzCode::parse("PZ24").err().map(message),
            pz_code("PZ24").err().map(message)
        );
    }

    #[test]
    fn code_types_are_checked_where_json_is_read() {
        let ok: Result<Vec<PzCode>, _> = serde_json::from_str(r#"["pz024"]"#);
        assert_eq!(ok.ok().map(|v| v[0].to_string()).as_deref(), Some("PZ024"));
        let bad: Result<Vec<OdsCode>, _> = serde_json::from_str(r#"["RV-1"]"#);
        let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("not a valid ODS code"), "{message}");
        assert_eq!(
            "y56"
                .parse::<RegionCode>()
                .ok()
                .map(|c| c.into_string())
                .as_deref(),
            Some("Y56")
        );
    }
}
