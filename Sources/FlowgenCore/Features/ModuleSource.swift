/// The module API (`Templates/module.h`) and the one check of a module's C against it, run when the
/// module loads: so a body that reaches into flowgen's internals fails at its own file and line with
/// what to use instead, for both engines and before clang runs, rather than compiling against
/// code that may change (or, natively, against an skb field the host build does not fill).
public enum ModuleSource {
    /// Every fg_/FG_ name of the API, with what it is: the list `Templates/module.h` defines and
    /// docs/modules.md tables (`ModuleAPITests` checks all three agree).
    public static let api: [(name: String, what: String)] = [
        ("fg_pkt", "`struct fg_pkt`, the packet view `pkt`: key, `now`, `ip_bytes`, `segs`, `ttl`, `tos`, `flow_label`, `tcp_*`, `icmp_*`, `l4_proto`, `l3_off`, `l4_off`, `payload_off`, `fragment`, `jumbo`"),
        ("fg_flow_key", "`struct fg_flow_key`, the type of `pkt->key` (`src`, `dst`, `sport`, `dport`, `proto`, `ip_version`)"),
        ("fg_record", "`struct fg_record`, the type of `rec`: read any member, change one only with `FG_SET`/`FG_ADD_BIN`"),
        ("FG_SET", "`FG_SET(field, v)`: apply the field's aggregation (and presence bit, time) to `v`"),
        ("FG_ADD_BIN", "`FG_ADD_BIN(field, bin, n)`: add `n` to one bin of a histogram (the last bin takes larger indexes)"),
        ("fg_now_precise", "`fg_now_precise(pkt)`: the packet's ns time, read once per packet when needed (`pkt->now` is the coarse clock unless `FG_PRECISE_TIME`)"),
        ("fg_flow_reverse", "`fg_flow_reverse(pkt)`: the other direction's record of this TCP/UDP flow, or NULL"),
        ("FG_FLOW_REVERSE", "`FG_FLOW_REVERSE()`: the same, looked up at most once per packet and stage however many bodies ask"),
        ("FG_PTR", "`FG_PTR(skb, off, len)`: pointer to packet bytes `[off, off+len)`, NULL if they are not in the packet"),
        ("FG_LOAD", "`FG_LOAD(skb, off, dst, len)`: copy packet bytes to `dst`; 0 when all were there (walks over variable offsets)"),
        ("fg_segment_sizes", "`fg_segment_sizes(skb, pkt, &full, &last)`: the IP sizes of a GSO skb's wire segments"),
        ("fg_pkt_len", "`fg_pkt_len(skb)`: the packet's length from its link header on, all GSO segments together"),
        ("FG_NATIVE", "defined in the native (replay) build only"),
    ]

    /// Names of the API (see `api`).
    static let apiNames = Set(api.map(\.name))

    /// What to use instead of an internal name a module might reach for.
    static let instead: [String: String] = [
        "fg_now": "use pkt->now, or fg_now_precise(pkt) for ns precision",
        "fg_flow_new": "flowgen creates and updates records itself; a body changes `rec` with FG_SET",
        "fg_update": "flowgen creates and updates records itself; a body changes `rec` with FG_SET",
        "fg_record_init": "set a field's start value with `initial:` in feature.yaml",
        "fg_parse": "the parser has filled `pkt` before the body runs",
        "fg_count": "count in a field of the module (aggregation: sum) with FG_SET",
        "FG_ATOMIC_ADD": "declare the field `aggregation: sum` and FG_SET it",
        "FG_ATOMIC_OR": "declare the field `aggregation: or` and FG_SET it",
        "fg_flows": "fg_flow_reverse(pkt) gives the other direction's record",
        "FG_PKT_DATA": "FG_PTR(skb, off, len) or FG_LOAD(skb, off, dst, len)",
        "fg_cfg_replay": "#ifdef FG_NATIVE for the native build; pkt->now is the capture time in replay",
    ]

    /// The API form of an skb member a module might read directly.
    static let skbInstead: [String: String] = [
        "len": "fg_pkt_len(skb)",
        "data": "FG_PTR(skb, off, len) or FG_LOAD(skb, off, dst, len)",
        "data_end": "FG_PTR(skb, off, len) or FG_LOAD(skb, off, dst, len)",
        "gso_segs": "pkt->segs",
        "gso_size": "fg_segment_sizes(skb, pkt, &full, &last)",
        "tstamp": "pkt->now, or fg_now_precise(pkt)",
        "protocol": "pkt->key.ip_version and pkt->l4_proto",
    ]

    /// What a C text of a module is, which decides the rules it follows.
    public enum Kind: Sendable {
        /// The `update:` body: runs inline among the other modules' bodies, so no `return`/`goto`.
        case body
        /// The `helpers:` file: file-scope functions, which may return.
        case helpers
        /// A `value:` expression.
        case expression
    }

    /// Fails at the first use in `source` of an fg_/FG_ name outside the API (and not one of
    /// `module`'s parameters or `defines:`), of `skb->`, or (in a body) of `return` or `goto`,
    /// naming the file, the line and what to use instead.
    public static func check(_ source: SourceText, _ kind: Kind, module: FeatureModule) throws {
        var own = Set(module.defines)
        for p in module.parameters {
            own.insert(p.macro(module: module.name))
            own.insert(p.macro(module: module.name) + "_COUNT")
        }
        let tokens = CTokens(source.text).tokens
        for (i, token) in tokens.enumerated() {
            let line = source.line + token.line - 1
            func refuse(_ message: String) -> FeatureError { .malformed(file: source.file, line: line, message: message) }
            if kind == .body, token.text == "return" || token.text == "goto" {
                throw refuse("a module body must not `\(token.text)`: later modules of its stage run after it in the same function; end the body, or put it in `do { ... } while (0)` and `break` (as Features/dns does)")
            }
            if token.text == "skb", i + 1 < tokens.count, tokens[i + 1].text == "->" {
                let member = i + 2 < tokens.count ? tokens[i + 2].text : ""
                let use = skbInstead[member] ?? "the packet view pkt-> (struct fg_pkt), FG_PTR/FG_LOAD for packet bytes or fg_pkt_len(skb); other skb fields are not in the module API (the native engine does not fill them)"
                throw refuse("module '\(module.name)' reads `skb->\(member)` directly; use \(use) (the module API: Templates/module.h)")
            }
            let lower = token.text.lowercased()
            guard lower.hasPrefix("fg_"), !apiNames.contains(token.text), !own.contains(token.text) else { continue }
            let use = instead[token.text]
                ?? (token.text.hasPrefix("fg_agg_") || token.text.hasPrefix("FG_AGG_") ? "FG_SET(field, v)" : nil)
                ?? (token.text.hasPrefix("FG_BIN_") ? "FG_ADD_BIN(field, bin, n)" : nil)
                ?? (token.text.hasPrefix("FG_PARAM_") ? "only this module's own parameters (\(own.filter { $0.hasPrefix("FG_PARAM_") }.sorted().joined(separator: ", ")))" : nil)
                ?? "a module may use only \(api.map(\.name).joined(separator: ", ")), its own parameters and defines; a name of the module's own must not start with fg_/FG_, which are flowgen's: prefix it with the module's name"
            throw refuse("module '\(module.name)' uses `\(token.text)`, which is internal to flowgen, not in the module API (Templates/module.h): \(use)")
        }
    }
}

/// The identifiers and `->` tokens of C text with their lines, skipping comments, string and
/// character literals and numbers (whose suffixes look like identifiers: `0xffULL`).
struct CTokens {
    /// One token: its text and 1-based line within the text.
    struct Token {
        var text: String
        var line: Int
    }

    var tokens: [Token] = []

    init(_ text: String) {
        let s = Array(text.utf8)
        var i = 0
        var line = 1
        func isIdent(_ c: UInt8) -> Bool { c == 95 || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        while i < s.count {
            let c = s[i]
            if c == 10 { line += 1; i += 1; continue }
            if c == 47, i + 1 < s.count, s[i + 1] == 47 {          // line comment
                while i < s.count, s[i] != 10 { i += 1 }
                continue
            }
            if c == 47, i + 1 < s.count, s[i + 1] == 42 {          // block comment
                i += 2
                while i < s.count, !(s[i] == 42 && i + 1 < s.count && s[i + 1] == 47) {
                    if s[i] == 10 { line += 1 }
                    i += 1
                }
                i += 2
                continue
            }
            if c == 34 || c == 39 {                               // string or character literal
                i += 1
                while i < s.count, s[i] != c, s[i] != 10 {
                    if s[i] == 92 { i += 1 }
                    i += 1
                }
                i += 1
                continue
            }
            if c >= 48 && c <= 57 {                               // a number and its suffix
                while i < s.count, isIdent(s[i]) || s[i] == 46 { i += 1 }
                continue
            }
            if isIdent(c) {
                let start = i
                while i < s.count, isIdent(s[i]) { i += 1 }
                tokens.append(Token(text: String(decoding: s[start..<i], as: UTF8.self), line: line))
                continue
            }
            if c == 45, i + 1 < s.count, s[i + 1] == 62 {
                tokens.append(Token(text: "->", line: line))
                i += 2
                continue
            }
            if c > 32 { tokens.append(Token(text: String(UnicodeScalar(c)), line: line)) }
            i += 1
        }
    }
}
