/// Layout of a C struct or union as recorded in an object's BTF (what the compiler really laid out).
public struct BTFStruct: Sendable, Equatable {
    /// One member of the struct.
    public struct Member: Sendable, Equatable {
        /// Member name (empty for anonymous members).
        public var name: String
        /// Offset in bytes from the start of the struct (bit offset / 8).
        public var byteOffset: Int
        /// Offset in bits (differs from `byteOffset * 8` only for bitfields).
        public var bitOffset: Int
        /// Size in bytes of the member's type, typedefs and arrays resolved (`btf__resolve_size`).
        public var byteSize: Int
        /// Width of a bitfield in bits, 0 for ordinary members.
        public var bitfieldSize: Int
        /// The type spelled roughly as in C, e.g. `__u64`, `__u8[16]`, `struct fg_key`.
        public var typeName: String

        /// Creates a member description.
        public init(name: String, byteOffset: Int, bitOffset: Int, byteSize: Int, bitfieldSize: Int, typeName: String) {
            self.name = name
            self.byteOffset = byteOffset
            self.bitOffset = bitOffset
            self.byteSize = byteSize
            self.bitfieldSize = bitfieldSize
            self.typeName = typeName
        }
    }

    /// Type name as declared (`fg_record` for `struct fg_record`).
    public var name: String
    /// Total size in bytes, padding included.
    public var size: Int
    /// Members in declaration order.
    public var members: [Member]

    /// Creates a struct description.
    public init(name: String, size: Int, members: [Member]) {
        self.name = name
        self.size = size
        self.members = members
    }

    /// The member of this name, if any.
    public func member(_ name: String) -> Member? {
        members.first { $0.name == name }
    }
}
