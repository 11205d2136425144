//! The recipient policy of the catchers: refuse or defer some addresses on purpose.

use regex::Regex;
use smtp_proto::{EnhancedCode, Reply};

/// Which recipients to refuse (`550 5.1.1`) or defer (`451 4.3.0`), so that people can test
/// how their application handles bounces and temporary failures.
///
/// The regexes are searched in the address without angle brackets (`user@example.com`, or
/// `Postmaster`); anchor them with `^...$` to match the whole address. A recipient matching
/// both is refused.
///
/// ```
/// use smtp_catcher::RecipientPolicy;
/// let policy = RecipientPolicy {
///     reject: Some(regex::Regex::new("^bounce").unwrap()),
///     defer: Some(regex::Regex::new("@later\\.example$").unwrap()),
/// };
/// assert_eq!(policy.check("bounce@x.example").unwrap().code(), 550);
/// assert_eq!(policy.check("a@later.example").unwrap().code(), 451);
/// assert!(policy.check("a@x.example").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RecipientPolicy {
    /// Recipients to refuse with `550 5.1.1`.
    pub reject: Option<Regex>,
    /// Recipients to defer with `451 4.3.0`.
    pub defer: Option<Regex>,
}

impl RecipientPolicy {
    /// The reply refusing `address`, or `None` to accept it.
    pub fn check(&self, address: &str) -> Option<Reply> {
        let hit = |re: &Option<Regex>| re.as_ref().is_some_and(|re| re.is_match(address));
        let (code, enhanced, text) = if hit(&self.reject) {
            (
                550,
                (5, 1, 1),
                "No such user (refused by --reject-recipients)",
            )
        } else if hit(&self.defer) {
            (
                451,
                (4, 3, 0),
                "Try again later (deferred by --defer-recipients)",
            )
        } else {
            return None;
        };
        let enhanced = EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2);
        Some(Reply::new(code, enhanced, text).expect("a valid canned reply"))
    }
}
