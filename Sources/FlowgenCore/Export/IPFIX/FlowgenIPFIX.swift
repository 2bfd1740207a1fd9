/// Constants of flowgen's IPFIX export (RFC 7011, RFC 5103 biflows, RFC 5655 files).
public enum FlowgenIPFIX {
    /// flowgen's private enterprise number for module fields without an IANA element.
    ///
    /// **A placeholder, not registered with IANA.** It spells "flow" in ASCII (0x666C6F77), far above
    /// every number IANA has assigned (under 70 000 in 2025), so it cannot be mistaken for another
    /// organisation's elements, but it is not reserved either: a deployment that mixes collectors of
    /// several organisations should register a PEN (https://pen.iana.org) and put it here.
    public static let privateEnterpriseNumber: UInt32 = 0x666C_6F77
    /// RFC 5103 Reverse Information Element PEN: an IANA element under it is the reverse direction.
    public static let reverseEnterpriseNumber: UInt32 = 29305
    /// RFC 5103 §6.2: an enterprise-specific element's reverse has this bit of its id set.
    public static let enterpriseReverseBit: UInt16 = 0x4000
    /// Largest id flowgen gives its own elements (ids with `enterpriseReverseBit` are reverses).
    public static let maxPrivateElementID: UInt16 = 0x3FFF
    /// IPFIX message version (RFC 7011 §3.1).
    public static let version: UInt16 = 10
    /// Set id of a Template Set.
    public static let templateSetID: UInt16 = 2
    /// Set id of an Options Template Set.
    public static let optionsTemplateSetID: UInt16 = 3
    /// Smallest Template id (and Data Set id).
    public static let firstTemplateID: UInt16 = 256
    /// Bytes of the message header.
    public static let messageHeaderLength = 16
    /// Bytes of a set header.
    public static let setHeaderLength = 4
    /// Largest message the 16-bit length field can describe.
    public static let maxMessageLength = 65535
    /// The IANA port for IPFIX over UDP, TCP and SCTP.
    public static let defaultPort: UInt16 = 4739
}
