//! Bulk import of authenticator apps (TOTP) from another system: a migration's one-off
//! command. Each line names a user and the factor's secret, digits, period, algorithm and
//! the last time step the old system accepted; the factors arrive active (no code asked),
//! sealed like any other, and refuse every code up to that step.
//!
//! ```text
//! cargo run -p mfa-examples --bin import-totp -- --database sqlite://myaccount.db examples/data/totp-import.csv
//! cargo run -p mfa-examples --bin import-totp -- --database sqlite://myaccount.db examples/data/totp-import.json
//! ```
//!
//! CSV has the header `user,secret,digits,period,algorithm,last_used_step,label`; JSON is an
//! array of objects with the same fields. `secret` is base32 (as in `otpauth://` URIs);
//! `digits`, `period`, `algorithm`, `last_used_step` and `label` may be empty or absent.
//! Users who already have an active authenticator app are skipped, so a run can be
//! repeated. The report names lines and users, never a secret. Options: `--database URL`
//! (env `MYACCOUNT_DATABASE`), `--seal-key HEX` (env `MYACCOUNT_SEAL_KEY`; with SQLite
//! the key kept beside the database, as My Account does).

use std::error::Error as StdError;

use mfa_core::admin::FactorImport;
use mfa_core::{FactorKind, FactorStatus, Mfa, SecretBytes, UserId};
use mfa_otp::TotpFactor;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

/// One line of the input. The secret is wiped when the line is dropped.
#[derive(Deserialize)]
struct Line {
    user: String,
    secret: String,
    #[serde(default)]
    digits: Option<String>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    last_used_step: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// JSON may give numbers where CSV gives text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Field {
    Text(String),
    Number(u64),
}

#[derive(Deserialize)]
struct JsonLine {
    user: String,
    secret: String,
    digits: Option<Field>,
    period: Option<Field>,
    algorithm: Option<String>,
    last_used_step: Option<Field>,
    label: Option<String>,
}

impl From<JsonLine> for Line {
    fn from(j: JsonLine) -> Self {
        let text = |f: Option<Field>| {
            f.map(|f| match f {
                Field::Text(t) => t,
                Field::Number(n) => n.to_string(),
            })
        };
        Line {
            user: j.user,
            secret: j.secret,
            digits: text(j.digits),
            period: text(j.period),
            algorithm: j.algorithm,
            last_used_step: text(j.last_used_step),
            label: j.label,
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// What happened to one line.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Imported,
    Skipped,
    Refused(String),
}

fn read(path: &str) -> Result<Vec<Line>, Box<dyn StdError>> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    if path.ends_with(".json") {
        let lines: Vec<JsonLine> = serde_json::from_str(&text)?;
        return Ok(lines.into_iter().map(Line::from).collect());
    }
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    reader.deserialize().map(|line| line.map_err(Into::into)).collect()
}

fn import_of(line: &Line) -> Result<(UserId, FactorImport), String> {
    let user = UserId::new(line.user.trim()).map_err(|e| format!("user: {e}"))?;
    let cleaned: Zeroizing<String> = Zeroizing::new(
        line.secret.chars().filter(|c| !c.is_whitespace() && *c != '=').collect::<String>().to_uppercase(),
    );
    let secret = data_encoding::BASE32_NOPAD.decode(cleaned.as_bytes()).map_err(|_| "secret: not base32".to_owned())?;
    let mut import = FactorImport::new(FactorKind::TOTP, SecretBytes::new(secret));
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    for (name, value) in [("digits", &line.digits), ("period", &line.period), ("algorithm", &line.algorithm)] {
        if let Some(value) = given(value) {
            import = import.parameter(name, value);
        }
    }
    if let Some(step) = given(&line.last_used_step) {
        import = import.last_used_step(step.parse().map_err(|_| "last_used_step: not a number".to_owned())?);
    }
    if let Some(label) = given(&line.label) {
        import = import.label(label);
    }
    Ok((user, import))
}

async fn import_line(mfa: &Mfa, line: &Line) -> Outcome {
    let (user, import) = match import_of(line) {
        Ok(parsed) => parsed,
        Err(reason) => return Outcome::Refused(reason),
    };
    match mfa.list_factors(&user).await {
        Ok(factors) if factors.iter().any(|f| f.kind == FactorKind::TOTP && f.status == FactorStatus::Active) => {
            return Outcome::Skipped;
        }
        Ok(_) => {}
        Err(e) => return Outcome::Refused(e.code().to_owned()),
    }
    match mfa.system().import_factor(&user, import).await {
        Ok(_) => Outcome::Imported,
        Err(e) => Outcome::Refused(format!("{}: {e}", e.code())),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut database = env("MYACCOUNT_DATABASE").unwrap_or_else(|| "memory".into());
    let mut seal_key = env("MYACCOUNT_SEAL_KEY");
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database" => database = args.next().ok_or("--database needs a value")?,
            "--seal-key" => seal_key = Some(args.next().ok_or("--seal-key needs a value")?),
            "--help" | "-h" => {
                println!("usage: import-totp [--database URL] [--seal-key HEX] FILE.csv|FILE.json");
                return Ok(());
            }
            path => file = Some(path.to_owned()),
        }
    }
    let file = file.ok_or("name the CSV or JSON file to import")?;
    let mfa = Mfa::builder()
        .shared_store(mfa_examples::open_store(&database).await?)
        .sealer(mfa_examples::sealer(seal_key.as_deref(), &database)?)
        .factor(TotpFactor::new("My Account")?)
        .build()?;
    let lines = read(&file)?;
    let (mut imported, mut skipped, mut refused) = (0, 0, 0);
    for (n, line) in lines.iter().enumerate() {
        // Line 1 of a CSV file is its header.
        let at = if file.ends_with(".json") { n + 1 } else { n + 2 };
        match import_line(&mfa, line).await {
            Outcome::Imported => imported += 1,
            Outcome::Skipped => {
                skipped += 1;
                println!("line {at}: {} already has an authenticator app: skipped", line.user.trim());
            }
            Outcome::Refused(reason) => {
                refused += 1;
                println!("line {at}: {} refused: {reason}", line.user.trim());
            }
        }
    }
    println!("imported {imported}, skipped {skipped}, refused {refused}");
    if refused > 0 {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(secret: &str) -> Line {
        Line {
            user: " alice ".into(),
            secret: secret.into(),
            digits: Some("8".into()),
            period: Some("".into()),
            algorithm: None,
            last_used_step: Some("56666666".into()),
            label: Some("Old phone".into()),
        }
    }

    #[test]
    fn a_line_becomes_an_import_and_bad_lines_say_why() {
        let (user, import) = import_of(&line("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")).unwrap();
        assert_eq!(user.as_str(), "alice");
        assert_eq!(import.secret.expose(), b"12345678901234567890");
        assert_eq!(import.parameter_value("digits"), Some("8"));
        assert_eq!(import.parameter_value("period"), None, "an empty field is absent");
        assert_eq!(import.last_used_step, Some(56_666_666));
        assert_eq!(import_of(&line("not base32!")).err().as_deref(), Some("secret: not base32"));
        let mut bad_step = line("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        bad_step.last_used_step = Some("soon".into());
        assert!(import_of(&bad_step).is_err());
    }
}
