import CLibBPF
import FlowgenCore
import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Where `--clickhouse URL` points: `http://[USER[:PASSWORD]@]HOST[:PORT]/?database=DB&table=NAME`.
/// The password comes from the URL or from `FLOWGEN_CLICKHOUSE_PASSWORD`, and no description of this
/// value ever holds it.
public struct ClickHouseDestination: Sendable, CustomStringConvertible {
    /// Host name or address literal (without brackets).
    public let host: String
    /// HTTP port (default 8123).
    public let port: UInt16
    /// User (default `default`).
    public let user: String
    /// Password; empty when none. Never printed.
    let password: String
    /// Database (default `default`).
    public let database: String
    /// Table (default `flows`).
    public let table: String

    /// `database.table`.
    public var qualifiedTable: String { "\(database).\(table)" }

    /// Parses `url`; `environment` supplies `FLOWGEN_CLICKHOUSE_PASSWORD` when the URL has no password.
    public init(parsing url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func fail(_ why: String) -> ClickHouseError { .destination(Self.redacted(url), why) }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else {
            throw fail("is not a URL; write http://HOST:8123/?database=DB&table=NAME")
        }
        guard scheme == "http" else {
            throw fail("has scheme '\(scheme)'; only http:// is supported (put a TLS proxy in front for https)")
        }
        guard let host = parts.host, !host.isEmpty else { throw fail("has no host") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard (parts.port ?? 8123) > 0, (parts.port ?? 8123) <= 65535 else { throw fail("has port \(parts.port ?? 0), not 1 to 65535") }
        port = UInt16(parts.port ?? 8123)
        user = parts.user.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        password = parts.password ?? environment["FLOWGEN_CLICKHOUSE_PASSWORD"] ?? ""
        var database = "default", table = "flows"
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "database": database = item.value ?? ""
            case "table": table = item.value ?? ""
            default: throw fail("has parameter '\(item.name)'; known ones are database and table")
            }
        }
        guard ClickHouseSchema.isValidTableName(database), ClickHouseSchema.isValidTableName(table), !table.contains(".") else {
            throw fail("names database '\(database)', table '\(table)': use letters, digits and '_', starting with a letter or '_'")
        }
        self.database = database
        self.table = table
    }

    /// Without the password: what logs and errors show.
    public var description: String {
        "http://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/ table \(qualifiedTable)"
    }

    /// `url` with any password replaced by `***`, for messages about a URL that did not parse.
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// The Basic authorization header value.
    var authorization: String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
}

/// A minimal HTTP/1.1 client for ClickHouse's HTTP interface: one POST per connection (`Connection:
/// close`), a plain blocking socket with time limits. URLSession would bring a run loop and
/// libcurl into the collector for one kind of request.
public struct ClickHouseHTTP: Sendable {
    /// Where requests go.
    public let destination: ClickHouseDestination
    /// Seconds allowed to connect, and for each send or receive.
    public var timeout: Double = 10

    /// Creates a client.
    public init(destination: ClickHouseDestination) { self.destination = destination }

    /// An answer.
    public struct Response: Sendable {
        /// HTTP status.
        public var status: Int
        /// Body text.
        public var body: String
    }

    /// Posts `body` with `query` in the URL (`INSERT … FORMAT …`), or `query` as the body when `body` is nil.
    public func post(query: String, body: [UInt8]? = nil) throws -> Response {
        let address = try IPFIXSocketAddress(host: destination.host, port: destination.port, socktype: Int32(SOCK_STREAM.rawValue))
        let fd = try address.socket(type: Int32(SOCK_STREAM.rawValue))
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let err = address.connect(fd)
        guard err == 0 else { throw ClickHouseError.unreachable(destination.description, Errno(rawValue: err).description) }
        let payload = body ?? Array(query.utf8)
        var path = "/"
        if body != nil {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            path += "?query=" + (query.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }
        let hostHeader = destination.host.contains(":") ? "[\(destination.host)]" : destination.host
        let head = "POST \(path) HTTP/1.1\r\nHost: \(hostHeader):\(destination.port)\r\nAuthorization: \(destination.authorization)\r\n"
            + "Content-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        try send(fd, Array(head.utf8))
        try send(fd, payload)
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 { answer.append(contentsOf: chunk[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                // a server that answers before reading the whole body (a refused login) and closes
                // resets the connection: the answer that came before the reset is its answer
                let code = errno
                if code == ECONNRESET, !answer.isEmpty, let response = try? Self.parse(answer, from: destination.description) { return response }
                throw ClickHouseError.unreachable(destination.description, "no answer: \(Errno(rawValue: code).description)")
            }
            break
        }
        return try Self.parse(answer, from: destination.description)
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n > 0 { off += n; continue }
                if n < 0 && errno == EINTR { continue }
                throw ClickHouseError.unreachable(destination.description, "sending failed: \(Errno(rawValue: n == 0 ? EPIPE : errno).description)")
            }
        }
    }

    /// Status and body of a raw answer (chunked bodies joined).
    static func parse(_ answer: [UInt8], from: String) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = (0..<Swift.max(0, answer.count - 3)).first(where: { Array(answer[$0..<$0 + 4]) == separator }) else {
            throw ClickHouseError.unreachable(from, "the answer was not HTTP")
        }
        let head = String(decoding: answer[0..<split], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let status = Int(fields[1]) else { throw ClickHouseError.unreachable(from, "the answer was not HTTP") }
        var body = Array(answer[(split + 4)...])
        if head.lowercased().contains("transfer-encoding: chunked") {
            var out: [UInt8] = [], i = 0
            while i < body.count, let end = (i..<body.count - 1).first(where: { body[$0] == 13 && body[$0 + 1] == 10 }) {
                let size = Int(String(decoding: body[i..<end], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) ?? 0
                if size == 0 { break }
                out.append(contentsOf: body[(end + 2)..<Swift.min(body.count, end + 2 + size)])
                i = end + 2 + size + 2
            }
            body = out
        }
        return Response(status: status, body: String(decoding: body, as: UTF8.self))
    }

    /// Runs `sql` and returns its answer; a refusal throws with the server's message.
    @discardableResult
    public func query(_ sql: String) throws -> String {
        let response = try post(query: sql)
        guard response.status == 200 else { throw ClickHouseError.refused(destination.description, response.status, Self.firstLine(response.body)) }
        return response.body
    }

    /// The first line of a server message, enough to say what went wrong.
    static func firstLine(_ text: String) -> String {
        String(text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
    }
}
