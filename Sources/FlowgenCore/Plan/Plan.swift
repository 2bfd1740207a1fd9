/// Everything decided before code generation: selected modules, record layout, stages, map sizes.
/// Kernel C and the userland decoder both read it, so they cannot disagree.
public struct Plan: Sendable, Equatable {
    /// Selected modules in dependency order.
    public var features: [FeatureModule]
    /// The per-direction flow record.
    public var layout: RecordLayout
    /// Programs in tail-call order; stage 0 is the entry program.
    public var stages: [Stage]
    /// Capacity of the flow table (max_entries of `fg_flows`).
    public var maxFlows: Int
    /// Preprocessor symbols the selected modules define.
    public var defines: [String]

    /// Name of the program userland attaches.
    public var entryProgram: String { stages[0].program }

    /// Whether a module of this name is selected.
    public func has(_ feature: String) -> Bool { features.contains { $0.name == feature } }

    /// The slot of a field by name.
    public func slot(_ name: String) -> FieldSlot? { layout.slots.first { $0.field.name == name } }
}

/// One program of the pipeline and the modules whose updates it runs.
public struct Stage: Sendable, Equatable {
    /// ELF/kernel program name.
    public var program: String
    /// Modules updated in this stage.
    public var features: [String]
    /// Instructions the verifier processed, once the pipeline was loaded.
    public var verifiedInstructions: Int?

    /// Creates a stage.
    public init(program: String, features: [String], verifiedInstructions: Int? = nil) {
        self.program = program
        self.features = features
        self.verifiedInstructions = verifiedInstructions
    }
}

/// Byte layout of `struct fg_record`, with explicit padding.
public struct RecordLayout: Sendable, Equatable {
    /// Fields in memory order.
    public var slots: [FieldSlot]
    /// Total size in bytes (multiple of 8).
    public var size: Int
}

/// A field placed in the record.
public struct FieldSlot: Sendable, Equatable {
    /// The declared field.
    public var field: FieldSpec
    /// Module that declared it.
    public var feature: String
    /// Byte offset in the record.
    public var offset: Int
}
