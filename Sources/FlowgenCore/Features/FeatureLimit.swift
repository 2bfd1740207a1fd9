/// An upper bound on what feature modules and plans may declare. Modules are user input that ends
/// up in clang, the verifier and the collector's hot path; an absurd one (20,000 fields) ran clang
/// for minutes and crashed it. These limits refuse such input before code generation, in
/// milliseconds, with a message that names the limit.
///
/// Every bound leaves a wide margin over the built-in modules. Measured on the built-in modules
/// (`FeatureLimitTests.builtInPlansStayWellUnderTheLimits` keeps the margin):
/// `--features all` is 16 modules, 65 stored + 4 derived fields, a 632-byte record; the largest
/// module (tcp_options) has 14 fields; the largest histogram 16 bins; the largest feature.yaml
/// 2.5 KiB and the largest C file 2.8 KiB.
public struct FeatureLimit: Sendable, Equatable, CustomStringConvertible {
    /// What is limited, as messages name it ("fields per module").
    public let name: String
    /// The largest accepted value.
    public let maximum: Int

    /// The name, for messages.
    public var description: String { name }

    /// Bytes of one feature.yaml, checked before the file is read in full: a spec is a few KiB,
    /// and YAML parsing of megabytes takes seconds.
    public static let specFileBytes = FeatureLimit(name: "feature.yaml size", maximum: 256 * 1024)
    /// Bytes of one `update:` or `helpers:` C file: the built-in ones are under 3 KiB.
    public static let cFileBytes = FeatureLimit(name: "C file size", maximum: 256 * 1024)
    /// Modules in one plan: the built-in set is 16 (`all`).
    public static let modulesPerPlan = FeatureLimit(name: "modules per plan", maximum: 64)
    /// Entries of one module's `fields:` (stored and derived): the largest built-in module has 14.
    public static let fieldsPerModule = FeatureLimit(name: "fields per module", maximum: 256)
    /// Fields of all modules of a plan (stored and derived): `all` has 69. Each field is a struct
    /// member, a `_Static_assert` and a macro in the generated header, and columns in every output line.
    public static let fieldsPerPlan = FeatureLimit(name: "fields per plan", maximum: 512)
    /// Bytes of `struct fg_record`, the flow table's value, stored once per direction: `all` needs
    /// 632. 2 KiB is far below what the kernel allows a hash-map value and the per-CPU scratch
    /// record (32 KiB), but the table holds `--max-flows` of them in kernel memory (2 KiB at the
    /// default 131,072 directions is already 256 MiB), so the bound is about memory, not the verifier.
    public static let recordBytes = FeatureLimit(name: "record bytes per direction", maximum: 2048)
    /// Bins of one histogram, which is also the length of the only array fields there are: each
    /// bin is a record element and an output column per direction.
    public static let histogramBins = FeatureLimit(name: "histogram bins", maximum: 64)
    /// Characters of one `value:` or `derive:` expression: the built-in ones are under
    /// 100. It also bounds the nesting the recursive derive parser and evaluator meet.
    public static let expressionLength = FeatureLimit(name: "expression length", maximum: 1024)
    /// Nesting of parentheses, `min`/`max` calls, `?:` and unary operators in one `derive:`: the
    /// parser and the evaluator recurse per level, and the built-in ones nest 5 deep.
    public static let deriveNesting = FeatureLimit(name: "derive nesting", maximum: 32)
    /// Every limit, for listings and tests.
    public static let all: [FeatureLimit] = [specFileBytes, cFileBytes, modulesPerPlan, fieldsPerModule, fieldsPerPlan,
                                             recordBytes, histogramBins, expressionLength, deriveNesting]

    /// The error for `value` above this limit: `what` says who declares it and how much, e.g.
    /// "module 'x' (file:line) declares 20000 fields".
    func error(_ what: String, unit: String) -> FeatureError {
        .overLimit(self, message: "\(what); at most \(maximum) \(unit)")
    }
}
