//! TOTP codes of local users (RFC 6238: SHA-1, 6 digits, 30-second steps), the window of clock
//! drift accepted, and the rule that a time step's code is accepted once.

use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Time steps of clock drift accepted either way.
pub const DRIFT_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;

/// A new random secret, base32 without padding (as authenticator apps read it).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => unreachable!("to_encoded gives an encoded secret"),
    }
}

/// The `otpauth://` URI an authenticator app reads (often from a QR code).
pub fn otpauth_uri(email: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/ShipIt:{}?secret={secret}&issuer=ShipIt&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        encode_label(email)
    )
}

/// Percent-encodes what may not appear as such in the URI's label.
fn encode_label(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"@._-+".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The time step of a Unix time.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The code of `secret` (base32) at time step `step`; `None` for a secret that is not base32.
pub fn code_at(secret: &str, step: u64) -> Option<String> {
    Some(totp(secret)?.generate(step * STEP_SECS))
}

/// The time step whose code `code` is, among the steps around `now_step` within the drift
/// window, and later than `last_step` (the step of the last code accepted): a code is accepted
/// once, and never one older than the last accepted.
pub fn accepted_step(secret: &str, code: &str, now_step: u64, last_step: Option<i64>) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret)?;
    let first = now_step.saturating_sub(DRIFT_STEPS);
    (first..=now_step + DRIFT_STEPS)
        .filter(|&step| last_step.is_none_or(|last| i64::try_from(step).is_ok_and(|step| step > last)))
        // `check` compares in constant time.
        .find(|&step| totp.check(code, step * STEP_SECS))
}

fn totp(secret: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
    // No skew here: the window is `accepted_step`'s, step by step.
    Some(TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 secret of RFC 6238's test vectors, "12345678901234567890", in base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // RFC 6238 gives 8 digits; 6 digits are their last six.
        for (time, code) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(code_at(RFC_SECRET, step_of(time)).as_deref(), Some(code), "at {time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_either_way_and_no_more() {
        let now: u64 = 1_000_000;
        for offset in [-1i64, 0, 1] {
            let step = now.checked_add_signed(offset).unwrap();
            let code = code_at(RFC_SECRET, step).unwrap();
            assert_eq!(accepted_step(RFC_SECRET, &code, now, None), Some(step), "offset {offset}");
        }
        for step in [now - 2, now + 2, now - 10] {
            let code = code_at(RFC_SECRET, step).unwrap();
            assert_eq!(accepted_step(RFC_SECRET, &code, now, None), None, "step {step}");
        }
    }

    #[test]
    fn a_step_accepted_once_is_refused_and_so_are_earlier_ones() {
        let now = 1_000_000u64;
        let current = code_at(RFC_SECRET, now).unwrap();
        let previous = code_at(RFC_SECRET, now - 1).unwrap();
        let next = code_at(RFC_SECRET, now + 1).unwrap();
        let last = Some(i64::try_from(now).unwrap());
        assert_eq!(accepted_step(RFC_SECRET, &current, now, last), None);
        assert_eq!(accepted_step(RFC_SECRET, &previous, now, last), None);
        assert_eq!(accepted_step(RFC_SECRET, &next, now, last), Some(now + 1));
        assert_eq!(accepted_step(RFC_SECRET, &current, now, Some(i64::try_from(now - 1).unwrap())), Some(now));
    }

    #[test]
    fn malformed_codes_and_secrets_are_refused() {
        let now: u64 = 1_000_000;
        let code = code_at(RFC_SECRET, now).unwrap();
        assert_eq!(accepted_step(RFC_SECRET, &format!("{code}0"), now, None), None);
        assert_eq!(accepted_step(RFC_SECRET, &format!(" {}", &code[1..]), now, None), None);
        assert_eq!(accepted_step(RFC_SECRET, "", now, None), None);
        assert_eq!(accepted_step("not base32!", &code, now, None), None);
    }

    #[test]
    fn new_secrets_are_random_base32_and_uris_name_the_parameters() {
        let secret = generate_secret();
        assert_ne!(secret, generate_secret());
        assert_eq!(Secret::Encoded(secret.clone()).to_bytes().unwrap().len(), SECRET_BYTES);
        assert_eq!(
            otpauth_uri("a.b+c@example.com", "ABC"),
            "otpauth://totp/ShipIt:a.b+c@example.com?secret=ABC&issuer=ShipIt&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("a?b@example.com", "ABC").starts_with("otpauth://totp/ShipIt:a%3Fb@example.com?"));
    }
}
