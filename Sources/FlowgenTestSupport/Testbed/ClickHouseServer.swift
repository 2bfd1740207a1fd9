import Foundation
import FlowgenCore
import FlowgenKernel

/// A ClickHouse server of the tests' own: Debian's `clickhouse-server` with a configuration in a
/// temporary directory, its data beside it, listening on free loopback ports (or on an address of
/// a test namespace), no system service; a cluster `flows` of one shard (itself) for `Distributed` tables. `stop()` ends it and removes the directory; `kill()` and
/// `start()` take it down and up again on the same data, as an outage would.
public final class ClickHouseServer: @unchecked Sendable {
    /// The directory holding configuration, data and logs.
    public let directory: String
    /// The address it listens on.
    public let host: String
    /// The HTTP interface's port.
    public let httpPort: UInt16
    /// The native protocol's port (unused by flowgen, but the server needs one).
    public let tcpPort: UInt16
    /// The namespace it runs in; nil: the caller's.
    public let namespace: NetworkNamespace?
    /// A user with a password, for tests of credentials.
    public static let passwordUser = (name: "agent", password: "s3cret pass/with:odd@chars")

    /// Writes the configuration and starts the server; fails when `clickhouse-server` is missing or
    /// does not answer within `timeout`. The server has one thread per query and small caches: the
    /// machine running the tests is small and shared.
    public init(prefix: String, host: String = "127.0.0.1", namespace: NetworkNamespace? = nil, timeout: Duration = .seconds(60)) throws {
        guard let binary = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].first(where: FileManager.default.isExecutableFile) else {
            throw TestbedError.executableNotFound("clickhouse-server (apt-get install clickhouse-server, or run scripts/setup.sh)")
        }
        directory = NSTemporaryDirectory() + "\(prefix)-clickhouse-\(UUID().uuidString)"
        self.host = host
        self.namespace = namespace
        if namespace == nil {
            httpPort = try Self.freePort()
            tcpPort = try Self.freePort()
        } else {
            // a namespace of the test's own has every port free
            httpPort = 8123
            tcpPort = 9000
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try Self.config(directory: directory, host: host, httpPort: httpPort, tcpPort: tcpPort)
                .write(toFile: directory + "/config.xml", atomically: true, encoding: .utf8)
            try Self.users.write(toFile: directory + "/users.xml", atomically: true, encoding: .utf8)
            self.binary = binary
            try start(timeout: timeout)
        } catch {
            stop()
            throw error
        }
    }

    private var binary = ""

    deinit { stop() }

    /// The server's base URL.
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(httpPort)" }

    /// Starts the server (again) on the same data and waits until it answers a query. It runs as a
    /// daemon (`--daemon`), not as a child of the test process: a long-lived child kept the test
    /// runner's Foundation from reaping later short-lived ones (curl, flowgen), which hung the tests.
    public func start(timeout: Duration = .seconds(60)) throws {
        let argv = [binary, "--daemon", "--pid-file=\(directory)/server.pid", "--config-file=\(directory)/config.xml"]
        try? FileManager.default.removeItem(atPath: directory + "/server.pid")
        try (namespace?.exec(argv, timeout: timeout) ?? ProcessRunner.run(argv, timeout: timeout)).check()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let answer = try? query("SELECT 1"), answer == "1\n" { return }
            if let pid = serverPID(), !Self.isAlive(pid) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let errors = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
        throw TestbedError.commandFailed(argv: argv, status: -1, stderr: "no answer on \(url) within \(timeout): " + errors.suffix(2000))
    }

    /// The daemon's process id, from its pid file.
    func serverPID() -> pid_t? {
        (try? String(contentsOfFile: directory + "/server.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Whether `pid` runs (a zombie no longer does).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard Foundation.kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
    }

    /// Sends `signal` to the daemon and waits up to `grace` for it to go; then SIGKILL.
    private func end(_ signal: Int32, grace: Double) {
        guard let pid = serverPID(), Self.isAlive(pid) else { return }
        Foundation.kill(pid, signal)
        let deadline = Date().addingTimeInterval(grace)
        while Self.isAlive(pid) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if Self.isAlive(pid) {
            Foundation.kill(pid, SIGKILL)
            while Self.isAlive(pid) { Thread.sleep(forTimeInterval: 0.05) }
        }
    }

    /// Kills the server at once (SIGKILL, no flush), keeping its data for `start()`.
    public func kill() { end(SIGKILL, grace: 5) }

    /// Ends the server and removes its directory; idempotent.
    public func stop() {
        end(SIGTERM, grace: 15)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `sql` over the HTTP interface with curl (a client independent of flowgen's) and returns
    /// the answer; throws with the server's message when it refuses.
    @discardableResult
    public func query(_ sql: String, user: String? = nil, password: String? = nil) throws -> String {
        var argv = ["curl", "-sS", "--fail-with-body", "--max-time", "60", "--data-binary", "@-"]
        if let user { argv += ["-u", "\(user):\(password ?? "")"] }
        argv.append(url + "/")
        // the query goes on stdin through a file: ProcessRunner has no stdin
        let file = directory + "/query-\(UUID().uuidString).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        argv[argv.firstIndex(of: "@-")!] = "@" + file
        let result = try namespace?.exec(argv, timeout: .seconds(90)) ?? ProcessRunner.run(argv, timeout: .seconds(90))
        return try result.check().stdout
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestbedError.systemCall("socket", errno: errno) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard rc == 0 else { throw TestbedError.systemCall("bind(127.0.0.1:0)", errno: errno) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: addr.sin_port)
    }

    static func config(directory: String, host: String, httpPort: UInt16, tcpPort: UInt16) -> String {
        """
        <?xml version="1.0"?>
        <yandex>
          <logger><level>warning</level><log>\(directory)/server.log</log><errorlog>\(directory)/error.log</errorlog><console>0</console></logger>
          <listen_host>\(host)</listen_host>
          <http_port>\(httpPort)</http_port>
          <tcp_port>\(tcpPort)</tcp_port>
          <path>\(directory)/data/</path>
          <tmp_path>\(directory)/tmp/</tmp_path>
          <user_files_path>\(directory)/user_files/</user_files_path>
          <format_schema_path>\(directory)/format_schemas/</format_schema_path>
          <mark_cache_size>16777216</mark_cache_size>
          <uncompressed_cache_size>16777216</uncompressed_cache_size>
          <max_concurrent_queries>16</max_concurrent_queries>
          <users_config>users.xml</users_config>
          <default_profile>default</default_profile>
          <default_database>default</default_database>
          <timezone>UTC</timezone>
          <remote_servers><flows><shard><replica><host>\(host == "0.0.0.0" ? "127.0.0.1" : host)</host><port>\(tcpPort)</port></replica></shard></flows></remote_servers>
        </yandex>

        """
    }

    static var users: String {
        """
        <?xml version="1.0"?>
        <yandex>
          <profiles><default><max_threads>1</max_threads><output_format_json_quote_64bit_integers>0</output_format_json_quote_64bit_integers></default></profiles>
          <users>
            <default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default>
            <\(passwordUser.name)><password>\(passwordUser.password)</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></\(passwordUser.name)>
          </users>
          <quotas><default></default></quotas>
        </yandex>

        """
    }
}
