/// One field of a flowgen template: the field specifier on the wire, how to encode it, and where its
/// value comes from.
public struct IPFIXTemplateField: Sendable, Equatable {
    /// Element id, length and enterprise number.
    public var specifier: IPFIXFieldSpecifier
    /// Element name (IANA name, "reverse" + name for RFC 5103 reverses, flowgen's name for its own).
    public var name: String
    /// How the value is encoded (dateTime types convert record time to wall-clock time).
    public var type: IPFIXDataType
    /// Where the value comes from.
    public var source: IPFIXValueSource
    /// The plan field it exports, nil for key and metadata fields.
    public var planField: String?
    /// Element (histogram bin) of the plan field.
    public var element: Int
    /// The JSON/CSV column with the same value, if there is one.
    public var jsonName: String?

    /// Creates a field.
    public init(specifier: IPFIXFieldSpecifier, name: String, type: IPFIXDataType, source: IPFIXValueSource,
                planField: String? = nil, element: Int = 0, jsonName: String? = nil) {
        self.specifier = specifier
        self.name = name
        self.type = type
        self.source = source
        self.planField = planField
        self.element = element
        self.jsonName = jsonName
    }
}
