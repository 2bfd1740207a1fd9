/// An IPFIX transport session: frames Data Records into messages, sends the templates when the
/// session needs them (UDP: refresh by time and message count; TCP: on every connection; file: at
/// the start) and counts what it could not deliver.
public protocol IPFIXTransport: AnyObject {
    /// Where the messages go.
    var destination: IPFIXDestination { get }
    /// Sends (or queues) records. Never throws: failures are counted and logged.
    func send(_ records: [IPFIXDataRecord])
    /// Flushes what is queued and releases the socket or file.
    func close()
    /// Counters so far.
    var statistics: IPFIXTransportStatistics { get }
}
