//! How a setting's text becomes its value (whole numbers, booleans, paths, addresses, choices
//! among words), and its value back into TOML for `check-config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::settings::{LogFormat, Precision};

/// A value a setting's text turns into, and back into TOML for `check-config`.
pub(super) trait Value {
    /// Replaces the value with the one `text` names, or says why it cannot.
    fn set(&mut self, text: &str) -> Result<(), String>;
    /// The value as TOML; none when unset.
    fn show(&self) -> Option<toml::Value>;
}

fn whole_number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "expected a whole number".to_owned())
}

macro_rules! whole_number_value {
    ($($number:ty),*) => {$(
        impl Value for $number {
            fn set(&mut self, text: &str) -> Result<(), String> {
                *self = <$number>::try_from(whole_number(text)?)
                    .map_err(|_| "the number is too large".to_owned())?;
                Ok(())
            }
            fn show(&self) -> Option<toml::Value> {
                Some(toml::Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX)))
            }
        }
    )*};
}
whole_number_value!(u32, u64, usize);

impl Value for bool {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = match text {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("use `true` or `false`".to_owned()),
        };
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::Boolean(*self))
    }
}

impl Value for String {
    fn set(&mut self, text: &str) -> Result<(), String> {
        text.clone_into(self);
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.clone()))
    }
}

impl Value for Option<PathBuf> {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = Some(PathBuf::from(text));
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        self.as_ref()
            .map(|path| toml::Value::String(path.display().to_string()))
    }
}

impl Value for SocketAddr {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = text.parse().map_err(|_| "not host:port".to_owned())?;
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

/// A value named by one of a few words.
pub(super) trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];
}

impl<T: Choice> Value for T {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = T::CHOICES
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<String> = T::CHOICES
                    .iter()
                    .map(|(name, _)| format!("`{name}`"))
                    .collect();
                format!("use {}", names.join(" or "))
            })?;
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        T::CHOICES
            .iter()
            .find(|(_, choice)| choice == self)
            .map(|(name, _)| toml::Value::String((*name).to_owned()))
    }
}

impl Choice for Precision {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("int8", Precision::Int8), ("f32", Precision::F32)];
}

impl Choice for LogFormat {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("human", LogFormat::Human), ("json", LogFormat::Json)];
}
