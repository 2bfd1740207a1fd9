import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

/// `--clickhouse URL` parsing: defaults, where the password comes from, and that no message shows it.
@Suite struct ClickHouseDestinationTests {
    @Test func defaultsAndParts() throws {
        let plain = try ClickHouseDestination(parsing: "http://db1/", environment: [:])
        #expect(plain.host == "db1" && plain.port == 8123 && plain.user == "default" && plain.qualifiedTable == "default.flows")
        #expect(plain.password.isEmpty)
        let full = try ClickHouseDestination(parsing: "http://agent:p%40ss%3Aw0rd@[fd00::5]:9123/?database=net&table=edge", environment: [:])
        #expect(full.host == "fd00::5" && full.port == 9123 && full.user == "agent" && full.qualifiedTable == "net.edge")
        #expect(full.password == "p@ss:w0rd")
        #expect(full.description == "http://agent@[fd00::5]:9123/ table net.edge")
        // Basic authorization is base64 of user:password (RFC 7617)
        #expect(full.authorization == "Basic " + Data("agent:p@ss:w0rd".utf8).base64EncodedString())
    }

    @Test func passwordFromTheEnvironmentUnlessInTheURL() throws {
        let fromEnvironment = try ClickHouseDestination(parsing: "http://agent@db1:8123/", environment: ["FLOWGEN_CLICKHOUSE_PASSWORD": "envpw"])
        #expect(fromEnvironment.password == "envpw" && !fromEnvironment.description.contains("envpw"))
        let fromURL = try ClickHouseDestination(parsing: "http://agent:urlpw@db1:8123/", environment: ["FLOWGEN_CLICKHOUSE_PASSWORD": "envpw"])
        #expect(fromURL.password == "urlpw")
    }

    @Test func refusalsNameTheProblemWithoutThePassword() {
        let cases: [(String, String)] = [
            ("https://agent:secret1@db1/", "only http:// is supported"),
            ("http://agent:secret1@db1/?db=x", "has parameter 'db'; known ones are database and table"),
            ("http://agent:secret1@db1/?table=a.b", "use letters, digits and '_'"),
            ("http://agent:secret1@db1/?database=x;DROP", "use letters, digits and '_'"),
            ("http://agent:secret1@:8123/", "has no host"),
        ]
        for (url, expected) in cases {
            do {
                _ = try ClickHouseDestination(parsing: url, environment: [:])
                Issue.record("\(url) was accepted")
            } catch {
                let message = "\(error)"
                #expect(message.contains(expected), "\(message)")
                #expect(!message.contains("secret1") && message.contains("agent:***@"), "\(message)")
            }
        }
    }
}
