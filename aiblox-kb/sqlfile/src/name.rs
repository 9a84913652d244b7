//! Migration file names: `V<version>__<description>.sql`, e.g. `V0002__add_item_lang.sql`.

use std::fmt;

/// A parsed migration file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MigrationName {
    /// The version: ordering key, unique among migrations, greater than zero.
    pub version: u32,
    /// The description: lower-case letters, digits and underscores.
    pub description: String,
}

/// Why a file name is not a migration name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    file_name: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a migration name: name files `V<number>__<description>.sql` with a \
             number above 0 and a description of lower-case letters, digits and underscores, \
             e.g. `V0002__add_item_lang.sql`",
            self.file_name
        )
    }
}

impl std::error::Error for NameError {}

impl MigrationName {
    /// Parses a file name (not a path).
    pub fn parse(file_name: &str) -> Result<Self, NameError> {
        let error = || NameError {
            file_name: file_name.to_owned(),
        };
        let rest = file_name
            .strip_prefix('V')
            .and_then(|rest| rest.strip_suffix(".sql"))
            .ok_or_else(error)?;
        let (number, description) = rest.split_once("__").ok_or_else(error)?;
        let valid_number =
            !number.is_empty() && number.len() <= 9 && number.bytes().all(|b| b.is_ascii_digit());
        let valid_description = !description.is_empty()
            && description
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_number || !valid_description {
            return Err(error());
        }
        let version: u32 = number.parse().map_err(|_| error())?;
        if version == 0 {
            return Err(error());
        }
        Ok(MigrationName {
            version,
            description: description.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_names() {
        let name = MigrationName::parse("V0002__add_item_lang.sql").unwrap();
        assert_eq!(
            name,
            MigrationName {
                version: 2,
                description: "add_item_lang".to_owned()
            }
        );
        assert_eq!(MigrationName::parse("V10__x1.sql").unwrap().version, 10);
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "V0000__zero.sql",
            "V1_single_underscore.sql",
            "V1__Upper.sql",
            "V1__.sql",
            "V__x.sql",
            "v1__x.sql",
            "V1__x.SQL",
            "V1__x.sql.bak",
            "Vx__y.sql",
            "V99999999999__big.sql",
            "README.md",
        ] {
            let err = MigrationName::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }
}
