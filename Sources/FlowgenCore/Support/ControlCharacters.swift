/// Control characters, which no setting, interface name or path flowgen accepts may hold.
///
/// They are never part of a meaningful value, yet each can change what a value means further on:
/// a NUL ends the string where C reads it (`eth0\0` names `eth0` to the kernel but not to flowgen's
/// own bookkeeping), a CR or newline splits a line in a log or state file, and ESC or CSI drives
/// the terminal that shows a message. The set is Unicode's general category Cc: U+0000–U+001F
/// (tab included), U+007F (DEL) and U+0080–U+009F (the C1 controls, of which U+009B acts as ESC [
/// on some terminals).
public enum ControlCharacters {
    /// True for a scalar of category Cc.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// The first control character of `text`, if any.
    public static func first<S: StringProtocol>(in text: S) -> Unicode.Scalar? {
        text.unicodeScalars.first(where: isControl)
    }

    /// `U+001B` for ESC: how messages name a character that would not show (or would act) if printed.
    public static func label(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// `text` with every control character replaced by `<U+XXXX>`, so a message can quote a refused
    /// value without the terminal or log acting on what it contains.
    public static func visible<S: StringProtocol>(_ text: S) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { result += "<" + label(scalar) + ">" } else { result.unicodeScalars.append(scalar) }
        }
        return result
    }

    /// nil when `value` has no control character; otherwise a message naming `what` (e.g. `--log`),
    /// the value made visible and the first control character, and saying what to do.
    public static func problem<S: StringProtocol>(in value: S, what: String) -> String? {
        guard let scalar = first(in: value) else { return nil }
        return "\(what) '\(visible(value))' contains the control character \(label(scalar)); "
            + "control characters (tabs and newlines included) are not accepted: give the value without it"
    }
}
