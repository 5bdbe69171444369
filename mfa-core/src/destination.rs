//! The canonical form of a destination, which delivery limits are counted under
//! (SECURITY.md S24).
//!
//! A mailbox or a phone can be written many ways; every way must share one counter, or
//! eight accounts send eight codes to one mailbox within a 30-second cooldown. Messages
//! still go to the destination as the user typed it (some mail servers treat case in the
//! local part as significant); only the counter key is canonical.

use crate::adapter::DeliveryChannel;

/// The form a destination's delivery counters are keyed by.
///
/// - **Email:** the domain in lower case; the local part unquoted (`"victim"` is
///   `victim`), in lower case, and without a `+tag` (most providers deliver
///   `victim+anything@` to `victim@`). Dots in the local part are removed for
///   `gmail.com` and `googlemail.com` (the same mailbox there, and `googlemail.com` is
///   `gmail.com`) and kept elsewhere, where they may name different mailboxes. Folding
///   too much only makes two people share a cap; folding too little lets one mailbox
///   escape it.
/// - **SMS:** the digits of the number, with a leading `+` (adapters pass E.164, the form
///   every way of writing one number normalises to).
///
/// ```
/// use mfa_core::DeliveryChannel;
/// use mfa_core::destination::canonical_destination;
///
/// let key = |to| canonical_destination(DeliveryChannel::Email, to);
/// assert_eq!(key("Victim@Example.com"), "victim@example.com");
/// assert_eq!(key("\"victim\"@example.com"), "victim@example.com");
/// assert_eq!(key("victim+promo@example.com"), "victim@example.com");
/// assert_eq!(key("v.i.c.t.i.m@googlemail.com"), "victim@gmail.com");
/// assert_eq!(key("j.smith@example.com"), "j.smith@example.com");
/// assert_eq!(canonical_destination(DeliveryChannel::Sms, "+44 7700 900123"), "+447700900123");
/// ```
pub fn canonical_destination(channel: DeliveryChannel, destination: &str) -> String {
    match channel {
        DeliveryChannel::Email => canonical_email(destination),
        DeliveryChannel::Sms => {
            let digits: String = destination.chars().filter(char::is_ascii_digit).collect();
            format!("+{digits}")
        }
    }
}

fn canonical_email(address: &str) -> String {
    let address = address.trim();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address.to_lowercase();
    };
    let mut domain = domain.trim_end_matches('.').to_lowercase();
    let mut local = unquote(local).to_lowercase();
    if let Some((base, _tag)) = local.split_once('+')
        && !base.is_empty()
    {
        local = base.to_owned();
    }
    if domain == "googlemail.com" {
        domain = "gmail.com".to_owned();
    }
    if domain == "gmail.com" {
        local.retain(|c| c != '.');
    }
    format!("{local}@{domain}")
}

/// A quoted local part without its quotes and escapes (`"a\"b"` is `a"b`).
fn unquote(local: &str) -> String {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return local.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_one_mailbox_has_one_key() {
        let spellings = [
            "victim@example.com",
            "Victim@example.com",
            "VICTIM@EXAMPLE.COM",
            "\"victim\"@example.com",
            "\"VICTIM\"@Example.Com",
            "victim+1@example.com",
            "Victim+Other.Tag@example.com.",
            " victim@example.com ",
        ];
        for s in spellings {
            assert_eq!(canonical_email(s), "victim@example.com", "{s}");
        }
    }

    #[test]
    fn different_mailboxes_keep_different_keys() {
        assert_ne!(canonical_email("a.b@example.com"), canonical_email("ab@example.com"));
        assert_ne!(canonical_email("victim@example.com"), canonical_email("victim@example.org"));
        assert_eq!(canonical_email("+tag@example.com"), "+tag@example.com", "no base: kept");
    }

    #[test]
    fn every_spelling_of_one_number_has_one_key() {
        for s in ["+447700900123", "+44 7700 900123", "+44-7700-900-123", "+44 (7700) 900 123"] {
            assert_eq!(canonical_destination(DeliveryChannel::Sms, s), "+447700900123", "{s}");
        }
    }
}
