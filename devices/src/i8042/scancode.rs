//! Scan codes of the keys the host can type, by Linux `KEY_*` number: the set-1 code
//! (what the guest reads through the controller's translation, the PC default) and the
//! set-2 code (what the keyboard itself sends), and whether the key is an extended one
//! (sent after an 0xE0 prefix). Facts from the IBM PC/AT keyboard documentation.

/// One key's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub set1: u8,
    pub set2: u8,
    pub extended: bool,
}

const fn k(set1: u8, set2: u8) -> Option<Key> {
    Some(Key {
        set1,
        set2,
        extended: false,
    })
}

const fn e(set1: u8, set2: u8) -> Option<Key> {
    Some(Key {
        set1,
        set2,
        extended: true,
    })
}

/// Linux `KEY_*` codes 0..=111 (the main block, function keys, navigation keys).
const KEYS: [Option<Key>; 112] = {
    let mut t: [Option<Key>; 112] = [None; 112];
    t[1] = k(0x01, 0x76); // ESC
    t[2] = k(0x02, 0x16); // 1
    t[3] = k(0x03, 0x1e);
    t[4] = k(0x04, 0x26);
    t[5] = k(0x05, 0x25);
    t[6] = k(0x06, 0x2e);
    t[7] = k(0x07, 0x36);
    t[8] = k(0x08, 0x3d);
    t[9] = k(0x09, 0x3e);
    t[10] = k(0x0a, 0x46); // 9
    t[11] = k(0x0b, 0x45); // 0
    t[12] = k(0x0c, 0x4e); // MINUS
    t[13] = k(0x0d, 0x55); // EQUAL
    t[14] = k(0x0e, 0x66); // BACKSPACE
    t[15] = k(0x0f, 0x0d); // TAB
    t[16] = k(0x10, 0x15); // Q
    t[17] = k(0x11, 0x1d); // W
    t[18] = k(0x12, 0x24); // E
    t[19] = k(0x13, 0x2d); // R
    t[20] = k(0x14, 0x2c); // T
    t[21] = k(0x15, 0x35); // Y
    t[22] = k(0x16, 0x3c); // U
    t[23] = k(0x17, 0x43); // I
    t[24] = k(0x18, 0x44); // O
    t[25] = k(0x19, 0x4d); // P
    t[26] = k(0x1a, 0x54); // LEFTBRACE
    t[27] = k(0x1b, 0x5b); // RIGHTBRACE
    t[28] = k(0x1c, 0x5a); // ENTER
    t[29] = k(0x1d, 0x14); // LEFTCTRL
    t[30] = k(0x1e, 0x1c); // A
    t[31] = k(0x1f, 0x1b); // S
    t[32] = k(0x20, 0x23); // D
    t[33] = k(0x21, 0x2b); // F
    t[34] = k(0x22, 0x34); // G
    t[35] = k(0x23, 0x33); // H
    t[36] = k(0x24, 0x3b); // J
    t[37] = k(0x25, 0x42); // K
    t[38] = k(0x26, 0x4b); // L
    t[39] = k(0x27, 0x4c); // SEMICOLON
    t[40] = k(0x28, 0x52); // APOSTROPHE
    t[41] = k(0x29, 0x0e); // GRAVE
    t[42] = k(0x2a, 0x12); // LEFTSHIFT
    t[43] = k(0x2b, 0x5d); // BACKSLASH
    t[44] = k(0x2c, 0x1a); // Z
    t[45] = k(0x2d, 0x22); // X
    t[46] = k(0x2e, 0x21); // C
    t[47] = k(0x2f, 0x2a); // V
    t[48] = k(0x30, 0x32); // B
    t[49] = k(0x31, 0x31); // N
    t[50] = k(0x32, 0x3a); // M
    t[51] = k(0x33, 0x41); // COMMA
    t[52] = k(0x34, 0x49); // DOT
    t[53] = k(0x35, 0x4a); // SLASH
    t[54] = k(0x36, 0x59); // RIGHTSHIFT
    t[55] = k(0x37, 0x7c); // KPASTERISK
    t[56] = k(0x38, 0x11); // LEFTALT
    t[57] = k(0x39, 0x29); // SPACE
    t[58] = k(0x3a, 0x58); // CAPSLOCK
    t[59] = k(0x3b, 0x05); // F1
    t[60] = k(0x3c, 0x06);
    t[61] = k(0x3d, 0x04);
    t[62] = k(0x3e, 0x0c);
    t[63] = k(0x3f, 0x03);
    t[64] = k(0x40, 0x0b);
    t[65] = k(0x41, 0x83);
    t[66] = k(0x42, 0x0a);
    t[67] = k(0x43, 0x01);
    t[68] = k(0x44, 0x09); // F10
    t[69] = k(0x45, 0x77); // NUMLOCK
    t[70] = k(0x46, 0x7e); // SCROLLLOCK
    t[87] = k(0x57, 0x78); // F11
    t[88] = k(0x58, 0x07); // F12
    t[97] = e(0x1d, 0x14); // RIGHTCTRL
    t[100] = e(0x38, 0x11); // RIGHTALT
    t[102] = e(0x47, 0x6c); // HOME
    t[103] = e(0x48, 0x75); // UP
    t[104] = e(0x49, 0x7d); // PAGEUP
    t[105] = e(0x4b, 0x6b); // LEFT
    t[106] = e(0x4d, 0x74); // RIGHT
    t[107] = e(0x4f, 0x69); // END
    t[108] = e(0x50, 0x72); // DOWN
    t[109] = e(0x51, 0x7a); // PAGEDOWN
    t[110] = e(0x52, 0x70); // INSERT
    t[111] = e(0x53, 0x71); // DELETE
    t
};

/// The codes of Linux key `code`, if the keyboard has it.
pub fn lookup(code: u16) -> Option<Key> {
    KEYS.get(usize::from(code)).copied().flatten()
}

/// The bytes the guest reads for a press or release of `key`: set 1 (release = code
/// | 0x80) or set 2 (release = 0xF0 then the code); extended keys get 0xE0 first.
pub fn bytes(key: Key, pressed: bool, set1: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(3);
    if key.extended {
        v.push(0xe0);
    }
    match (set1, pressed) {
        (true, true) => v.push(key.set1),
        (true, false) => v.push(key.set1 | 0x80),
        (false, true) => v.push(key.set2),
        (false, false) => v.extend([0xf0, key.set2]),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set1_codes_are_what_the_translation_makes_of_set2() {
        // A few entries of the controller's set-2 → set-1 translation.
        for (code, s1, s2) in [(30u16, 0x1e, 0x1c), (28, 0x1c, 0x5a), (65, 0x41, 0x83)] {
            let key = lookup(code).unwrap();
            assert_eq!((key.set1, key.set2), (s1, s2));
        }
        assert_eq!(lookup(0), None);
        assert_eq!(lookup(9999), None);
    }

    #[test]
    fn press_and_release_bytes() {
        let a = lookup(30).unwrap();
        assert_eq!(bytes(a, true, true), [0x1e]);
        assert_eq!(bytes(a, false, true), [0x9e]);
        assert_eq!(bytes(a, false, false), [0xf0, 0x1c]);
        let up = lookup(103).unwrap();
        assert_eq!(bytes(up, true, true), [0xe0, 0x48]);
        assert_eq!(bytes(up, false, false), [0xe0, 0xf0, 0x75]);
    }
}
