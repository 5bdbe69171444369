//! Authenticator apps: RFC 6238 time-based one-time passwords.

use std::fmt::Write as _;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use mfa_core::adapter::{
    ChallengePlan, EnrolmentPlan, EnrolmentRequest, FactorAdapter, FactorContext, FactorImport, ImportPlan, Prompt,
    Proof, ProofOutcome, ProofStep, SharedSecretPrompt, VerifyInput, expect_code,
};
use mfa_core::store::FactorRecord;
use mfa_core::{Assurance, Error, FactorKind, Result, SecretBytes, SecretString};
use subtle::ConstantTimeEq;

/// The HMAC hash. Most authenticator apps only implement SHA-1 (some silently use it
/// whatever the URI says), so it is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1 (the default; RFC 6238's reference algorithm).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The length of generated secrets: the hash's output size (20, 32 or 64 bytes).
    pub fn secret_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Algorithm::Sha1 => 1,
            Algorithm::Sha256 => 2,
            Algorithm::Sha512 => 5,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => Algorithm::Sha1,
            2 => Algorithm::Sha256,
            5 => Algorithm::Sha512,
            _ => return None,
        })
    }

    fn totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// Shortest secret accepted for import, in bytes (RFC 4226 requires 128 bits).
pub const MIN_IMPORTED_SECRET: usize = 16;
/// Widest window allowed: steps accepted either side of the current one.
pub const MAX_WINDOW: u8 = 2;

/// The parameters a factor was enrolled with, kept in its record so that changing the
/// adapter's defaults never breaks existing factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    algorithm: Algorithm,
    digits: u8,
    period: u32,
}

impl Params {
    fn encode(self) -> Vec<u8> {
        let mut v = vec![1, self.algorithm.tag(), self.digits];
        v.extend_from_slice(&self.period.to_be_bytes());
        v
    }

    fn decode(data: &[u8]) -> Result<Self> {
        match data {
            [1, alg, digits, p @ ..] if p.len() == 4 => {
                let algorithm = Algorithm::from_tag(*alg).ok_or(Error::Config("unknown TOTP algorithm in record"))?;
                let period = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                if !(6..=8).contains(digits) || period == 0 {
                    return Err(Error::Config("invalid TOTP parameters in record"));
                }
                Ok(Self { algorithm, digits: *digits, period })
            }
            _ => Err(Error::Config("invalid TOTP parameters in record")),
        }
    }
}

/// An authenticator-app factor (kind [`FactorKind::TOTP`]), as a
/// [`FactorAdapter`] for [`mfa_core::Mfa`].
///
/// Enrolment generates a secret from the OS CSPRNG at the algorithm's output length (or
/// imports one of at least 16 bytes), and shows it as a base32 key, an `otpauth://` URI and
/// a QR code (PNG and SVG). The factor stays pending until the user enters a valid current
/// code. Every accepted code advances the factor's replay marker to its time step, so a
/// code — or any code of an earlier step — is accepted once (RFC 6238 §5.2).
///
/// Verification keys the HMAC once and tries the current step first, then the steps
/// before and after it within the window; codes are compared in constant time.
///
/// ```
/// use mfa_otp::TotpFactor;
/// let totp = TotpFactor::builder("Example Corp").digits(8).window(1).build()?;
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TotpFactor {
    issuer: String,
    params: Params,
    window: u8,
}

/// Configures a [`TotpFactor`]. Defaults: SHA-1, 6 digits, 30-second period, ±1 step —
/// what every common authenticator app accepts.
#[derive(Debug, Clone)]
#[must_use]
pub struct TotpBuilder {
    issuer: String,
    params: Params,
    window: u8,
}

impl TotpBuilder {
    /// The HMAC hash.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.params.algorithm = algorithm;
        self
    }

    /// Code length: 6 or 8.
    pub fn digits(mut self, digits: u8) -> Self {
        self.params.digits = digits;
        self
    }

    /// Step length in seconds (30 by default).
    pub fn period(mut self, seconds: u32) -> Self {
        self.params.period = seconds;
        self
    }

    /// Steps accepted either side of the current one, at most [`MAX_WINDOW`].
    pub fn window(mut self, steps: u8) -> Self {
        self.window = steps;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty issuer or one with `:`, digits other than 6 or 8, a
    /// zero or over-an-hour period, or a window over [`MAX_WINDOW`].
    pub fn build(self) -> Result<TotpFactor> {
        let issuer = self.issuer.trim().to_owned();
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().count() > 64 {
            return Err(Error::Config("TOTP issuer must be 1-64 characters without ':'"));
        }
        if !matches!(self.params.digits, 6 | 8) {
            return Err(Error::Config("TOTP codes have 6 or 8 digits"));
        }
        if self.params.period == 0 || self.params.period > 3600 {
            return Err(Error::Config("TOTP period must be 1-3600 seconds"));
        }
        if self.window > MAX_WINDOW {
            return Err(Error::Config("TOTP window is at most 2 steps"));
        }
        Ok(TotpFactor { issuer, params: self.params, window: self.window })
    }
}

impl TotpFactor {
    /// A factor with the defaults and this issuer (the name users see in their app).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty issuer or one containing `:`.
    pub fn new(issuer: impl Into<String>) -> Result<Self> {
        Self::builder(issuer).build()
    }

    /// Starts configuring a factor.
    pub fn builder(issuer: impl Into<String>) -> TotpBuilder {
        TotpBuilder {
            issuer: issuer.into(),
            params: Params { algorithm: Algorithm::Sha1, digits: 6, period: 30 },
            window: 1,
        }
    }

    /// The code for `secret` at `unix_secs` with this factor's settings (for tests, and
    /// for showing what a code looks like).
    pub fn code_at(&self, secret: &[u8], unix_secs: u64) -> Result<String> {
        let keyed = Keyed::new(self.params.algorithm, secret)?;
        let code = keyed.code(unix_secs / u64::from(self.params.period), self.params.digits);
        Ok(format!("{code:0width$}", width = usize::from(self.params.digits)))
    }

    /// Checks `code` against `secret` at `unix_secs` within the window; returns the matched
    /// time step. Tries the current step first. Does no replay protection by itself: the
    /// service advances the factor's replay marker to the returned step.
    pub fn check(&self, secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
        check(self.params, self.window, secret, code, unix_secs).ok().flatten()
    }

    fn provisioning(&self, secret: &SecretBytes, account: &str) -> Result<SharedSecretPrompt> {
        // Bounded so that the URI always fits a QR code, whatever the user typed.
        if account.len() > MAX_ACCOUNT_NAME {
            return Err(Error::InvalidInput { field: "account name", reason: "longer than 256 bytes" });
        }
        if account.trim().is_empty() || account.chars().any(char::is_control) {
            return Err(Error::InvalidInput { field: "account name", reason: "empty or has control characters" });
        }
        let totp = totp_rs::Builder::new()
            .with_algorithm(self.params.algorithm.totp_rs())
            .with_digits(self.params.digits)
            .with_step_duration(u64::from(self.params.period))
            .with_secret(secret.expose().to_vec())
            .with_issuer(Some(self.issuer.clone()))
            .with_account_name(account.to_owned())
            .build()
            .map_err(|_| Error::InvalidInput { field: "account name", reason: "must not contain ':'" })?;
        let uri = SecretString::new(totp.to_url().map_err(|_| Error::Config("cannot build otpauth URI"))?);
        let png = totp.to_qr_png().map_err(|_| Error::Config("cannot draw QR code"))?;
        let mut prompt = SharedSecretPrompt::new(SecretString::new(totp.secret().to_base32()), uri.clone());
        prompt.qr_png = Some(SecretBytes::new(png));
        prompt.qr_svg = Some(qr_svg(uri.expose())?);
        Ok(prompt)
    }
}

/// The longest account name shown in authenticator apps, in bytes (as long as the longest
/// user id, which is the default name); even fully percent-encoded it fits a QR code.
const MAX_ACCOUNT_NAME: usize = 256;

/// An HMAC keyed once, cloned per step.
enum Keyed {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Keyed {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        let bad = |_| Error::Config("invalid TOTP key");
        Ok(match algorithm {
            Algorithm::Sha1 => Keyed::Sha1(Hmac::new_from_slice(secret).map_err(bad)?),
            Algorithm::Sha256 => Keyed::Sha256(Hmac::new_from_slice(secret).map_err(bad)?),
            Algorithm::Sha512 => Keyed::Sha512(Hmac::new_from_slice(secret).map_err(bad)?),
        })
    }

    /// RFC 4226 HOTP value for `counter`, reduced to `digits`.
    fn code(&self, counter: u64, digits: u8) -> u32 {
        let msg = counter.to_be_bytes();
        let value = match self {
            Keyed::Sha1(m) => truncate(&m.clone().chain_update(msg).finalize().into_bytes()),
            Keyed::Sha256(m) => truncate(&m.clone().chain_update(msg).finalize().into_bytes()),
            Keyed::Sha512(m) => truncate(&m.clone().chain_update(msg).finalize().into_bytes()),
        };
        value % 10u32.pow(u32::from(digits))
    }
}

/// RFC 4226 §5.3 dynamic truncation.
fn truncate(mac: &[u8]) -> u32 {
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    match mac.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        _ => 0,
    }
}

/// `Ok(Some(step))` on a match; `Ok(None)` for a well-formed wrong code or one of the wrong
/// length; `Err` if the key is unusable.
fn check(params: Params, window: u8, secret: &[u8], code: &str, unix_secs: u64) -> Result<Option<u64>> {
    let digits = usize::from(params.digits);
    if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let wanted: u32 = code.parse().map_err(|_| Error::InvalidCode)?;
    let keyed = Keyed::new(params.algorithm, secret)?;
    let current = unix_secs / u64::from(params.period);
    let mut steps = [Some(current); 1 + 2 * MAX_WINDOW as usize];
    for d in 1..=u64::from(window) {
        let i = usize::try_from(2 * d).unwrap_or(0);
        steps[i - 1] = current.checked_sub(d);
        steps[i] = current.checked_add(d);
    }
    let tried = 1 + 2 * usize::from(window);
    for step in steps.iter().take(tried).flatten() {
        if bool::from(keyed.code(*step, params.digits).ct_eq(&wanted)) {
            return Ok(Some(*step));
        }
    }
    Ok(None)
}

/// The URI as an SVG QR code (encoding by qrcodegen; this only draws its modules).
fn qr_svg(text: &str) -> Result<SecretString> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|_| Error::Config("URI too long for a QR code"))?;
    let border = 4;
    let dim = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    Ok(SecretString::new(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )))
}

fn unix_secs(ctx: &FactorContext<'_>) -> u64 {
    u64::try_from(ctx.now.unix_secs()).unwrap_or(0)
}

#[async_trait]
impl FactorAdapter for TotpFactor {
    fn kinds(&self) -> Vec<FactorKind> {
        vec![FactorKind::TOTP]
    }

    fn default_label(&self, _kind: &FactorKind) -> String {
        "Authenticator app".to_owned()
    }

    fn needs_challenge(&self, _kind: &FactorKind) -> bool {
        false
    }

    /// An authenticator app enrolled elsewhere: parameters `digits` (6 or 8), `period`
    /// (seconds, 1-3600) and `algorithm` (`SHA1`, `SHA256`, `SHA512`), each defaulting to
    /// this factor's; a secret of 16-128 bytes; codes at or before `last_used_step` are
    /// refused as replays.
    fn import_factor(&self, _kind: &FactorKind, import: &FactorImport) -> Result<ImportPlan> {
        let invalid = |field, reason| Error::InvalidInput { field, reason };
        if import.secret.len() < MIN_IMPORTED_SECRET {
            return Err(invalid("secret", "shorter than 16 bytes"));
        }
        if import.secret.len() > 128 {
            return Err(invalid("secret", "longer than 128 bytes"));
        }
        let mut params = self.params;
        if let Some(digits) = import.parameter_value("digits") {
            params.digits = match digits.trim() {
                "6" => 6,
                "8" => 8,
                _ => return Err(invalid("digits", "must be 6 or 8")),
            };
        }
        if let Some(period) = import.parameter_value("period") {
            params.period =
                period.trim().trim_end_matches('s').parse().map_err(|_| invalid("period", "not a number"))?;
            if params.period == 0 || params.period > 3600 {
                return Err(invalid("period", "must be 1-3600 seconds"));
            }
        }
        if let Some(algorithm) = import.parameter_value("algorithm") {
            params.algorithm = match algorithm.trim().to_ascii_uppercase().replace('-', "").as_str() {
                "SHA1" => Algorithm::Sha1,
                "SHA256" => Algorithm::Sha256,
                "SHA512" => Algorithm::Sha512,
                _ => return Err(invalid("algorithm", "must be SHA1, SHA256 or SHA512")),
            };
        }
        let known = |n: &str| ["digits", "period", "algorithm"].iter().any(|k| n.eq_ignore_ascii_case(k));
        if !import.parameters.iter().all(|(n, _)| known(n)) {
            return Err(invalid("parameter", "unknown TOTP parameter"));
        }
        let mut plan = ImportPlan::new(import.secret.clone(), Assurance::ReplayResistantOtp);
        plan.data = params.encode();
        plan.details = vec![
            ("algorithm".into(), format!("{:?}", params.algorithm).to_uppercase()),
            ("digits".into(), params.digits.to_string()),
            ("period".into(), format!("{}s", params.period)),
        ];
        plan.replay_marker = import.last_used_step;
        Ok(plan)
    }

    fn check_proof(&self, _kind: &FactorKind, _step: ProofStep, proof: &Proof) -> Result<()> {
        let code = expect_code(proof)?.expose();
        if code.len() > 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidInput { field: "code", reason: "must be 6 or 8 digits" });
        }
        Ok(())
    }

    fn guess_probability(&self, factor: &FactorRecord) -> Option<f64> {
        let params = Params::decode(&factor.data).ok()?;
        let valid_codes = 1 + 2 * u32::from(self.window);
        Some(f64::from(valid_codes) / 10f64.powi(i32::from(params.digits)))
    }

    async fn start_enrolment(&self, ctx: &FactorContext<'_>, request: &EnrolmentRequest) -> Result<EnrolmentPlan> {
        let secret = match &request.secret {
            Some(imported) if imported.len() < MIN_IMPORTED_SECRET => {
                return Err(Error::InvalidInput { field: "secret", reason: "shorter than 16 bytes" });
            }
            Some(imported) if imported.len() > 128 => {
                return Err(Error::InvalidInput { field: "secret", reason: "longer than 128 bytes" });
            }
            Some(imported) => imported.clone(),
            None => SecretBytes::random(self.params.algorithm.secret_len())?,
        };
        // The default account name is the user id, made fit for an otpauth label: a ':'
        // separates the issuer there, so it becomes '_', and surrounding blanks go (an
        // explicit name is checked as given).
        let account = match request.account_name.as_deref() {
            Some(name) => name.to_owned(),
            None => match ctx.user.as_str().replace(':', "_").trim() {
                "" => "account".to_owned(),
                name => name.to_owned(),
            },
        };
        let prompt = self.provisioning(&secret, &account)?;
        let mut plan = EnrolmentPlan::new(Prompt::SharedSecret(prompt), Assurance::ReplayResistantOtp);
        plan.secret = Some(secret);
        plan.data = self.params.encode();
        plan.details = vec![
            ("algorithm".into(), format!("{:?}", self.params.algorithm).to_uppercase()),
            ("digits".into(), self.params.digits.to_string()),
            ("period".into(), format!("{}s", self.params.period)),
        ];
        Ok(plan)
    }

    async fn finish_enrolment(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        self.finish_challenge(ctx, input).await
    }

    async fn start_challenge(
        &self,
        _ctx: &FactorContext<'_>,
        _factor: &FactorRecord,
        _secret: Option<&SecretBytes>,
    ) -> Result<ChallengePlan> {
        Ok(ChallengePlan::new(Prompt::EnterCode))
    }

    async fn finish_challenge(&self, ctx: &FactorContext<'_>, input: VerifyInput<'_>) -> Result<ProofOutcome> {
        let params = Params::decode(&input.factor.data)?;
        let secret = input.secret.ok_or(Error::Config("TOTP factor without a secret"))?;
        let code = expect_code(input.proof)?;
        match check(params, self.window, secret.expose(), code.expose(), unix_secs(ctx))? {
            Some(step) => Ok(ProofOutcome::with_replay_marker(step)),
            None => Err(Error::InvalidCode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SEED: &[u8] = b"12345678901234567890";
    const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
    const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn factor(algorithm: Algorithm, digits: u8) -> TotpFactor {
        TotpFactor::builder("Test").algorithm(algorithm).digits(digits).build().unwrap()
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        let keyed = Keyed::new(Algorithm::Sha1, SHA1_SEED).unwrap();
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(format!("{:06}", keyed.code(counter as u64, 6)), *want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_vectors_with_per_algorithm_seeds() {
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in table {
            assert_eq!(factor(Algorithm::Sha1, 8).code_at(SHA1_SEED, t).unwrap(), sha1, "SHA-1 at {t}");
            assert_eq!(factor(Algorithm::Sha256, 8).code_at(SHA256_SEED, t).unwrap(), sha256, "SHA-256 at {t}");
            assert_eq!(factor(Algorithm::Sha512, 8).code_at(SHA512_SEED, t).unwrap(), sha512, "SHA-512 at {t}");
            let f = factor(Algorithm::Sha512, 8);
            assert_eq!(f.check(SHA512_SEED, sha512, t), Some(t / 30));
        }
        // SECURITY.md S1: SHA-512 with the 20-byte seed at t=59 is 69342147.
        assert_eq!(factor(Algorithm::Sha512, 8).code_at(SHA1_SEED, 59).unwrap(), "69342147");
        assert!(20_000_000_000 > u64::from(u32::MAX), "a time past 2^32 seconds is covered");
    }

    #[test]
    fn agrees_with_totp_rs() {
        for (algorithm, seed) in
            [(Algorithm::Sha1, SHA1_SEED), (Algorithm::Sha256, SHA256_SEED), (Algorithm::Sha512, SHA512_SEED)]
        {
            for digits in [6u8, 8] {
                let ours = factor(algorithm, digits);
                let theirs = totp_rs::Builder::new()
                    .with_algorithm(algorithm.totp_rs())
                    .with_digits(digits)
                    .with_secret(seed.to_vec())
                    .build()
                    .unwrap();
                for t in [0u64, 29, 30, 1_700_000_000, 9_999_999_999, 40_000_000_123] {
                    assert_eq!(
                        ours.code_at(seed, t).unwrap(),
                        theirs.generate(t).to_string(),
                        "{algorithm:?}/{digits} at {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_window_accepts_one_step_either_side_and_no_more() {
        let f = factor(Algorithm::Sha1, 6);
        let t = 1_700_000_010; // inside step 56_666_667
        let step = t / 30;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = (step as i64 + offset) as u64 * 30;
            let code = f.code_at(SHA1_SEED, at).unwrap();
            assert_eq!(f.check(SHA1_SEED, &code, t).is_some(), accepted, "offset {offset}");
        }
    }

    #[test]
    fn step_edges_at_29_and_30_seconds() {
        let f = factor(Algorithm::Sha1, 6);
        let code0 = f.code_at(SHA1_SEED, 0).unwrap();
        assert_eq!(f.check(SHA1_SEED, &code0, 29), Some(0));
        assert_eq!(f.check(SHA1_SEED, &code0, 30), Some(0), "previous step within the window");
        assert_eq!(f.check(SHA1_SEED, &code0, 60), None, "two steps later");
        let strict = TotpFactor::builder("T").window(0).build().unwrap();
        assert_eq!(strict.check(SHA1_SEED, &code0, 29), Some(0));
        assert_eq!(strict.check(SHA1_SEED, &code0, 30), None);
    }

    #[test]
    fn malformed_codes_never_match() {
        let f = factor(Algorithm::Sha1, 6);
        let code = f.code_at(SHA1_SEED, 100).unwrap();
        assert_eq!(f.check(SHA1_SEED, &format!("{code}0"), 100), None);
        assert_eq!(f.check(SHA1_SEED, &code[..5], 100), None);
        assert_eq!(f.check(SHA1_SEED, "12345a", 100), None);
        assert_eq!(f.check(SHA1_SEED, "", 100), None);
    }

    #[test]
    fn settings_are_bounded() {
        assert!(TotpFactor::builder("T").digits(7).build().is_err());
        assert!(TotpFactor::builder("T").window(3).build().is_err());
        assert!(TotpFactor::builder("T").period(0).build().is_err());
        assert!(TotpFactor::builder("A:B").build().is_err());
        assert!(TotpFactor::builder(" ").build().is_err());
    }

    #[test]
    fn params_round_trip_and_reject_garbage() {
        let p = Params { algorithm: Algorithm::Sha256, digits: 8, period: 60 };
        assert_eq!(Params::decode(&p.encode()).unwrap(), p);
        assert!(Params::decode(&[]).is_err());
        assert!(Params::decode(&[1, 9, 6, 0, 0, 0, 30]).is_err());
        assert!(Params::decode(&[1, 1, 9, 0, 0, 0, 30]).is_err());
    }

    /// Verification through the service: the cache of opened secrets.
    mod through_the_service {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use mfa_core::store::FactorUpdate;
        use mfa_core::{
            AeadSealer, Clock, EnrolmentRequest, FactorId, FreshAuth, ManualClock, Mfa, Settings, Timestamp, UserId,
            error::CryptoError, seal::KeyId, seal::SealContext, seal::SealedSecret, seal::SecretSealer, store::Store,
        };
        use mfa_store_memory::MemoryStore;

        use super::super::*;

        /// A sealer that counts how often it really opens a secret.
        #[derive(Debug)]
        struct Counting(AeadSealer, AtomicUsize);

        impl SecretSealer for Counting {
            fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> std::result::Result<SealedSecret, CryptoError> {
                self.0.seal(ctx, plaintext)
            }

            fn open(
                &self,
                ctx: &SealContext<'_>,
                sealed: &SealedSecret,
            ) -> std::result::Result<SecretBytes, CryptoError> {
                self.1.fetch_add(1, Ordering::SeqCst);
                self.0.open(ctx, sealed)
            }

            fn current_key(&self) -> KeyId {
                self.0.current_key()
            }
        }

        struct World {
            store: Arc<dyn Store>,
            sealer: Arc<Counting>,
            clock: ManualClock,
            totp: TotpFactor,
            mfa: Mfa,
            alice: UserId,
        }

        impl World {
            fn new(settings: Settings) -> Self {
                let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
                let sealer = Arc::new(Counting(AeadSealer::new(KeyId(1), [3; 32]), AtomicUsize::new(0)));
                let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_010));
                let totp = TotpFactor::new("Example").unwrap();
                let mfa = Mfa::builder()
                    .shared_store(store.clone())
                    .shared_sealer(sealer.clone())
                    .clock(clock.clone())
                    .settings(settings)
                    .factor(totp.clone())
                    .build()
                    .unwrap();
                Self { store, sealer, clock, totp, mfa, alice: UserId::new("alice").unwrap() }
            }

            fn opens(&self) -> usize {
                self.sealer.1.load(Ordering::SeqCst)
            }

            /// The code of the next time step, moving the clock there.
            fn next_code(&self, key: &[u8]) -> Proof {
                self.clock.advance(std::time::Duration::from_secs(30));
                let now = u64::try_from(self.clock.now().unix_secs()).unwrap();
                Proof::code(&self.totp.code_at(key, now).unwrap()).unwrap()
            }

            async fn enrol(&self) -> (FactorId, Vec<u8>) {
                let fresh = FreshAuth::primary(self.clock.now());
                let start = self
                    .mfa
                    .start_enrolment(&self.alice, &fresh, EnrolmentRequest::new(FactorKind::TOTP))
                    .await
                    .unwrap();
                let Prompt::SharedSecret(secret) = &start.prompt else { panic!("expected a shared secret") };
                let key = data_encoding::BASE32_NOPAD.decode(secret.secret_base32.expose().as_bytes()).unwrap();
                self.mfa.finish_enrolment(&self.alice, &fresh, &start.factor.id, &self.next_code(&key)).await.unwrap();
                (start.factor.id, key)
            }
        }

        #[tokio::test]
        async fn with_the_secret_cache_a_seed_is_decrypted_once_not_at_every_verification() {
            let w = World::new(Settings::default());
            let (id, key) = w.enrol().await;
            let after_enrolment = w.opens();
            for _ in 0..5 {
                w.mfa.verify(&w.alice, &id, &w.next_code(&key)).await.unwrap();
            }
            assert_eq!(w.opens(), after_enrolment + 1);
            // Replay protection and failures work as without it.
            let code = w.next_code(&key);
            w.mfa.verify(&w.alice, &id, &code).await.unwrap();
            assert!(matches!(w.mfa.verify(&w.alice, &id, &code).await, Err(Error::Replayed)));
            assert!(matches!(
                w.mfa.verify(&w.alice, &id, &Proof::code("000000").unwrap()).await,
                Err(Error::InvalidCode)
            ));
            assert!(!format!("{:?}", w.mfa).contains(&format!("{:?}", key.as_slice())));
        }

        #[tokio::test]
        async fn without_the_secret_cache_every_verification_decrypts_the_seed() {
            let mut settings = Settings::default();
            settings.secret_cache = 0;
            let w = World::new(settings);
            let (id, key) = w.enrol().await;
            let after_enrolment = w.opens();
            for _ in 0..5 {
                w.mfa.verify(&w.alice, &id, &w.next_code(&key)).await.unwrap();
            }
            assert_eq!(w.opens(), after_enrolment + 5);
        }

        #[tokio::test]
        async fn a_seed_replaced_in_the_store_takes_effect_at_once_despite_the_cache() {
            let w = World::new(Settings::default());
            let (id, old_key) = w.enrol().await;
            w.mfa.verify(&w.alice, &id, &w.next_code(&old_key)).await.unwrap();
            // Another instance replaces the seed (same factor id, new sealed value).
            let new_key = [7u8; 20];
            let ctx = SealContext { user: &w.alice, factor: &id, purpose: "factor-secret" };
            let mut update = FactorUpdate::default();
            update.secret = Some(w.sealer.seal(&ctx, &new_key).unwrap());
            w.store.update_factor(&w.alice, &id, &update).await.unwrap();
            assert!(matches!(w.mfa.verify(&w.alice, &id, &w.next_code(&old_key)).await, Err(Error::InvalidCode)));
            w.mfa.verify(&w.alice, &id, &w.next_code(&new_key)).await.unwrap();
        }
    }

    #[test]
    fn svg_is_a_qr_drawing() {
        let svg = qr_svg("otpauth://totp/Test:alice?secret=ABC").unwrap();
        assert!(svg.expose().starts_with("<svg"));
        assert!(svg.expose().contains("<path d=\"M"));
    }
}
