import ArgumentParser
import FlowgenCore

/// `flowgen schema --clickhouse`: prints the `CREATE TABLE` that the flows of a feature set need,
/// for a database administrator to review or create ahead of the agents.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the database table the flows of a feature set need.",
        discussion: """
          flowgen schema --clickhouse --features tcp              CREATE TABLE for every ClickHouse version (18.16 on)
          flowgen schema --clickhouse --clickhouse-version 24.8   with IPv4/IPv6/DateTime64 types (20.1 and later)
          flowgen schema --clickhouse --table flows.tcp_flows     another table name (database.table)
        """)

    @OptionGroup var featureOptions: FeatureOptions

    @Flag(name: .long, help: "Print the ClickHouse CREATE TABLE (the only schema so far).")
    var clickhouse = false

    @Option(name: .long, help: ArgumentHelp("Table name, TABLE or DATABASE.TABLE.", valueName: "name"))
    var table = "flows"

    @Option(name: .customLong("clickhouse-version"), help: ArgumentHelp(
        "Server version the types are for (as SELECT version() prints it); below 20.1 or unset: types every version has.",
        valueName: "version"))
    var clickhouseVersion: String?

    func validate() throws {
        guard clickhouse else {
            throw ValidationError("say which schema: --clickhouse (the only one so far)")
        }
        guard ClickHouseSchema.isValidTableName(table) else {
            throw ValidationError("--table '\(table)' is not a table name: use TABLE or DATABASE.TABLE of letters, digits and '_', starting with a letter or '_'")
        }
        if let clickhouseVersion, Int(clickhouseVersion.split(separator: ".").first ?? "") == nil {
            throw ValidationError("--clickhouse-version '\(clickhouseVersion)' is not a version: give it as SELECT version() prints it, e.g. 18.16.1 or 24.8")
        }
    }

    func run() throws {
        let catalog = try featureOptions.catalog()
        let plan = try featureOptions.plan(in: catalog)
        let dialect = clickhouseVersion.map(ClickHouseSchema.Dialect.init(serverVersion:)) ?? .legacy
        print(try ClickHouseSchema(plan: plan, dialect: dialect).createTable(table), terminator: "")
    }
}
