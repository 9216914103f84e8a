use crate::error::AppError;

/// A name in the node's one namespace of handles: usernames and consultation slugs both become
/// `name@node` on the fediverse, so they follow the same rules and never collide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

/// Names that would be confusing as handles or clash with the node's own paths.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "static",
    "login",
    "logout",
    "signup",
    "instance",
    "actor",
    "inbox",
    "outbox",
    "well-known",
    "nodeinfo",
    "palabre",
    "root",
    "system",
    "moderation",
];

impl Handle {
    pub fn parse(kind: &str, raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::BadInput(format!(
                "{kind} must be 1 to 64 characters long"
            )));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(AppError::BadInput(format!(
                "{kind} may only contain lowercase letters, digits, '_' and '-'"
            )));
        }
        if RESERVED.contains(&name) {
            return Err(AppError::BadInput(format!("{kind} '{name}' is reserved")));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn validate_password(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < 8 {
        return Err(AppError::BadInput(
            "the password must be at least 8 characters long".into(),
        ));
    }
    if chars > 1024 {
        return Err(AppError::BadInput("the password is too long".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_lowercase_ascii() {
        assert!(Handle::parse("username", "alice_b-2").is_ok());
        assert!(Handle::parse("username", "Alice").is_err());
        assert!(Handle::parse("username", "élise").is_err());
        assert!(Handle::parse("username", "a b").is_err());
        assert!(Handle::parse("username", "").is_err());
        assert!(Handle::parse("slug", "api").is_err());
        assert!(Handle::parse("slug", &"x".repeat(65)).is_err());
    }
}
