//! Go's text primitives the functions share: rune decoding with Go's one-byte U+FFFD steps, Go's
//! one-character case mappings and `unicode.IsPrint`. A leaf module: it depends on nothing else here.

/// The character at the start of `s` and its length; `None` (length 1) for an invalid byte.
pub(crate) fn decode_rune(s: &[u8]) -> (Option<char>, usize) {
    for len in 1..=4.min(s.len()) {
        if let Ok(t) = std::str::from_utf8(&s[..len]) {
            return (t.chars().next(), len);
        }
    }
    (None, 1)
}

/// Go's `unicode.ToUpper`: the simple (one character) upper case mapping.
pub(crate) fn go_upper_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: the simple (one character) lower case mapping.
pub(crate) fn go_lower_char(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

pub(crate) fn go_to_title(c: char) -> char {
    // Go's unicode.ToTitle: the title case of the digraphs, else upper case of one character.
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => go_upper_char(c),
    }
}

/// Approximates Go's `unicode.IsPrint`: graphic characters and the ASCII space.
pub(crate) fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format_or_private = matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xF0000..);
    !c.is_control() && !c.is_whitespace() && !format_or_private
}
