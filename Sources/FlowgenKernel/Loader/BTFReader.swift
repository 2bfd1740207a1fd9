import CLibBPF

/// Reads struct layouts and data-section variables out of a libbpf `struct btf` (borrowed, not owned).
struct BTFReader {
    let btf: OpaquePointer

    /// BTF kind numbers (stable uapi values). Spelled out because Swift sees some of the C names twice
    /// (the uapi enum and libbpf's fallback definitions) and calls them ambiguous.
    private enum Kind {
        static let array = 3, `struct` = 4, union = 5, `enum` = 6, ptr = 2, typedef = 8, volatile = 9, const = 10
        static let datasec = 15, enum64 = 19
    }

    /// A variable of a DATASEC such as `.rodata`.
    struct SectionVariable {
        var name: String
        var offset: Int
        var size: Int
    }

    func structLayout(named name: String) throws -> BTFStruct {
        var id = btf__find_by_name_kind(btf, name, UInt32(Kind.struct))
        if id < 0 { id = btf__find_by_name_kind(btf, name, UInt32(Kind.union)) }
        if id < 0 {
            // `typedef struct { ... } name;` has no struct name, only the typedef's.
            let typedef = btf__find_by_name_kind(btf, name, UInt32(Kind.typedef))
            if typedef >= 0 { id = btf__resolve_type(btf, UInt32(typedef)) }
        }
        guard id > 0, let type = btf__type_by_id(btf, UInt32(id)), btf_is_composite(type) else {
            throw KernelError.btfTypeNotFound(name: name)
        }
        let members = btf_members(type)!
        var result: [BTFStruct.Member] = []
        for index in 0..<Int(btf_vlen(type)) {
            let member = members[index]
            let bitOffset = Int(btf_member_bit_offset(type, UInt32(index)))
            let size = btf__resolve_size(btf, member.type)
            result.append(BTFStruct.Member(
                name: string(at: member.name_off),
                byteOffset: bitOffset / 8,
                bitOffset: bitOffset,
                byteSize: size < 0 ? 0 : Int(size),
                bitfieldSize: Int(btf_member_bitfield_size(type, UInt32(index))),
                typeName: typeName(member.type)))
        }
        return BTFStruct(name: name, size: Int(type.pointee.size), members: result)
    }

    func dataSectionVariables(_ section: String) -> [SectionVariable] {
        let id = btf__find_by_name_kind(btf, section, UInt32(Kind.datasec))
        guard id > 0, let type = btf__type_by_id(btf, UInt32(id)), let infos = btf_var_secinfos(type) else { return [] }
        return (0..<Int(btf_vlen(type))).compactMap { index in
            let info = infos[index]
            guard let variable = btf__type_by_id(btf, info.type) else { return nil }
            return SectionVariable(name: string(at: variable.pointee.name_off), offset: Int(info.offset), size: Int(info.size))
        }
    }

    /// A C-like spelling of a type for messages and layout checks; deep nesting is cut short.
    func typeName(_ id: UInt32, depth: Int = 0) -> String {
        guard depth < 8, id != 0, let type = btf__type_by_id(btf, id) else { return id == 0 ? "void" : "?" }
        let own = string(at: type.pointee.name_off)
        switch Int(btf_kind(type)) {
        case Kind.struct: return "struct " + (own.isEmpty ? "<anon>" : own)
        case Kind.union: return "union " + (own.isEmpty ? "<anon>" : own)
        case Kind.enum, Kind.enum64: return "enum " + (own.isEmpty ? "<anon>" : own)
        case Kind.array:
            let array = btf_array(type)!.pointee
            return typeName(array.type, depth: depth + 1) + "[\(array.nelems)]"
        case Kind.ptr: return typeName(type.pointee.type, depth: depth + 1) + " *"
        case Kind.const: return "const " + typeName(type.pointee.type, depth: depth + 1)
        case Kind.volatile: return "volatile " + typeName(type.pointee.type, depth: depth + 1)
        default: return own.isEmpty ? "?" : own
        }
    }

    private func string(at offset: UInt32) -> String {
        guard let text = btf__name_by_offset(btf, offset) else { return "" }
        return String(cString: text)
    }
}
