//! Message texts by locale: the built-in English default and the translations a host
//! registers, and how a user's locale picks one.

use mfa_core::context::RequestContext;
use mfa_core::{Error, Result};

use crate::oob::MessageTemplate;

/// The most locales one factor holds templates for (besides the default).
pub const MAX_TEMPLATE_LOCALES: usize = 64;

/// The default template and the ones registered per locale.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    default: MessageTemplate,
    /// `(tag, template)`, in registration order; a tag appears once (ASCII
    /// case-insensitively).
    by_locale: Vec<(String, MessageTemplate)>,
}

impl Templates {
    pub(crate) fn new(default: MessageTemplate) -> Self {
        Self { default, by_locale: Vec::new() }
    }

    /// Replaces the default template (used for every locale without its own).
    pub(crate) fn set_default(&mut self, template: MessageTemplate) {
        self.default = template;
    }

    /// Registers `template` for `tag`, replacing one registered for the same tag. Checked
    /// by [`Templates::check`].
    pub(crate) fn insert(&mut self, tag: &str, template: MessageTemplate) {
        match self.by_locale.iter_mut().find(|(t, _)| t.eq_ignore_ascii_case(tag)) {
            Some(entry) => entry.1 = template,
            None => self.by_locale.push((tag.to_owned(), template)),
        }
    }

    /// Every tag is a language tag, there are at most [`MAX_TEMPLATE_LOCALES`], and every
    /// body has `{code}`.
    pub(crate) fn check(&self) -> Result<()> {
        if self.by_locale.len() > MAX_TEMPLATE_LOCALES {
            return Err(Error::Config("too many message template locales (at most 64)"));
        }
        for (tag, _) in &self.by_locale {
            // One rule for what a tag is: the one request contexts apply.
            RequestContext::new()
                .locale(tag)
                .map_err(|_| Error::Config("a message template locale is not a language tag"))?;
        }
        let templates = std::iter::once(&self.default).chain(self.by_locale.iter().map(|(_, t)| t));
        for template in templates {
            if !template.body.contains("{code}") {
                return Err(Error::Config("a message template needs {code} in its body"));
            }
        }
        Ok(())
    }

    /// The template for a user's `locale` (RFC 4647 "lookup"): the tag registered for it
    /// exactly (ASCII case-insensitively); else the tag with its last subtag dropped, again
    /// and again down to the primary language (`de-CH` → `de`, `zh-Hant-TW` → `zh-Hant` →
    /// `zh`); else the default. No locale gives the default.
    pub(crate) fn pick(&self, locale: Option<&str>) -> &MessageTemplate {
        let Some(mut tag) = locale else {
            return &self.default;
        };
        loop {
            if let Some((_, template)) = self.by_locale.iter().find(|(t, _)| t.eq_ignore_ascii_case(tag)) {
                return template;
            }
            match tag.rfind('-') {
                Some(cut) => {
                    tag = &tag[..cut];
                    // A single-letter subtag (an extension or private-use marker such as
                    // `-x-`) means nothing without what follows it.
                    if let Some(cut) = tag.rfind('-').filter(|c| tag.len() - c == 2) {
                        tag = &tag[..cut];
                    }
                }
                None => return &self.default,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(word: &str) -> MessageTemplate {
        MessageTemplate::new(word, format!("{word} {{code}}")).unwrap()
    }

    fn templates() -> Templates {
        let mut t = Templates::new(template("default"));
        t.insert("de", template("de"));
        t.insert("pt-BR", template("pt-BR"));
        t.insert("pt", template("pt"));
        t.insert("zh-Hant", template("zh-Hant"));
        t
    }

    fn picked(t: &Templates, locale: Option<&str>) -> String {
        t.pick(locale).subject.clone()
    }

    #[test]
    fn the_exact_tag_is_picked_whatever_its_case() {
        let t = templates();
        assert_eq!(picked(&t, Some("de")), "de");
        assert_eq!(picked(&t, Some("DE")), "de");
        assert_eq!(picked(&t, Some("pt-BR")), "pt-BR");
        assert_eq!(picked(&t, Some("pt-br")), "pt-BR");
        assert_eq!(picked(&t, Some("pt")), "pt", "a more specific template does not shadow the language");
    }

    #[test]
    fn a_regional_tag_falls_back_to_its_language() {
        let t = templates();
        assert_eq!(picked(&t, Some("de-CH")), "de");
        assert_eq!(picked(&t, Some("de-ch")), "de");
        assert_eq!(picked(&t, Some("pt-PT")), "pt");
        assert_eq!(picked(&t, Some("zh-Hant-TW")), "zh-Hant");
        assert_eq!(picked(&t, Some("de-CH-x-phonebk")), "de", "a private-use subtag is dropped with its marker");
        assert_eq!(picked(&t, Some("de-x-a")), "de");
    }

    #[test]
    fn an_unknown_or_missing_locale_gets_the_default() {
        let t = templates();
        assert_eq!(picked(&t, Some("fr")), "default");
        assert_eq!(picked(&t, Some("fr-CH")), "default");
        assert_eq!(picked(&t, Some("zh-Hans-CN")), "default", "zh-Hant is not zh");
        assert_eq!(picked(&t, Some("d")), "default", "a prefix of a tag is not the tag");
        assert_eq!(picked(&t, None), "default");
        assert_eq!(picked(&Templates::new(template("default")), Some("de")), "default");
    }

    #[test]
    fn registering_a_tag_again_replaces_its_template() {
        let mut t = templates();
        t.insert("DE", template("neu"));
        assert_eq!(picked(&t, Some("de")), "neu");
        assert_eq!(t.by_locale.len(), 4);
    }

    #[test]
    fn tags_are_checked_and_bounded() {
        assert!(templates().check().is_ok());
        for bad in ["", "de_CH", "-de", "de;", "1de", &"a".repeat(36)] {
            let mut t = templates();
            t.insert(bad, template("x"));
            assert!(matches!(t.check(), Err(Error::Config(_))), "{bad:?}");
        }
        let mut t = Templates::new(template("default"));
        for i in 0..MAX_TEMPLATE_LOCALES {
            t.insert(&format!("x{i}"), template("x"));
        }
        assert!(t.check().is_ok());
        t.insert("one-more", template("x"));
        assert!(matches!(t.check(), Err(Error::Config(_))));
    }

    #[test]
    fn a_template_changed_after_it_was_made_must_still_hold_the_code() {
        let mut broken = template("de");
        broken.body = "no code here".into();
        let mut t = templates();
        t.insert("de", broken.clone());
        assert!(t.check().is_err());
        let mut t = templates();
        t.set_default(broken);
        assert!(t.check().is_err());
    }
}
