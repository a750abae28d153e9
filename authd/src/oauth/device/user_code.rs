//! User codes (RFC 8628 §6.1): eight characters from a 20-letter alphabet without vowels (no
//! words, nothing to confuse: no 0/O, 1/I), shown as `XXXX-XXXX`, about 34.5 bits. Guessing is
//! bounded by the code's short life and the per-address limit on wrong entries (§5.1). Pure.

/// Base-20 consonants (RFC 8628 §6.1's example character set).
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (dash not counted).
pub const LEN: usize = 8;

/// A fresh user code as shown to the user, `XXXX-XXXX`.
pub fn generate() -> String {
    let mut out = String::with_capacity(LEN + 1);
    while out.len() < LEN + 1 {
        // Rejection sampling: 240 is the largest multiple of 20 below 256, so no letter is
        // likelier than another.
        let b: u8 = rand::random();
        if b < 240 {
            out.push(char::from(ALPHABET[usize::from(b % 20)]));
            if out.len() == LEN / 2 {
                out.push('-');
            }
        }
    }
    out
}

/// The canonical form of what a user typed (RFC 8628 §6.1: case-insensitive, punctuation and
/// spaces ignored), or `None` when it cannot be a user code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_well_formed_and_differ() {
        let a = generate();
        assert_eq!(a.len(), 9);
        assert_eq!(&a[4..5], "-");
        assert_eq!(normalize(&a).unwrap(), a.replace('-', ""));
        assert_ne!(a, generate());
    }

    #[test]
    fn typing_is_forgiving_but_not_loose() {
        assert_eq!(normalize("bcdf-ghjk").unwrap(), "BCDFGHJK");
        assert_eq!(normalize(" BCDF GHJK ").unwrap(), "BCDFGHJK");
        assert!(normalize("BCDF-GHJ").is_none());
        assert!(
            normalize("BCDF-GHJA").is_none(),
            "vowels are not in the alphabet"
        );
        assert!(normalize("BCDF-GHJK-L").is_none());
        assert!(normalize("<script>").is_none());
        assert!(normalize("ÄCDF-GHJK").is_none());
    }
}
