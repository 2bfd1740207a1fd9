import ArgumentParser
import Foundation
import FlowgenCore

/// `--config FILE` for a command: the file's `key = value` settings become arguments placed before
/// the command line's own (which win), and the command is parsed again from the result.
enum ConfigArguments {
    /// The command's options, read from its own help text (so every option, including those of
    /// shared option groups added later, is a valid setting without a list to maintain).
    static func options<C: ParsableCommand>(of command: C.Type) -> [ConfigFile.Option] {
        var options: [ConfigFile.Option] = []
        var inOptions = false
        for line in command.helpMessage(includeHidden: false, columns: 10_000).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("OPTIONS:") { inOptions = true; continue }
            guard inOptions, line.hasPrefix("  -"), !line.hasPrefix("   ") else { continue }
            var rest = line.dropFirst(2)
            var short: Character?
            if rest.hasPrefix("-"), !rest.hasPrefix("--") {
                short = rest.dropFirst().first
                rest = rest.dropFirst(2)
                if rest.hasPrefix(", ") { rest = rest.dropFirst(2) }
            }
            guard rest.hasPrefix("--") else { continue }
            let long = String(rest.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" })
            let afterName = rest.dropFirst(2 + long.count)
            guard !long.isEmpty, long != "help", long != "version" else { continue }
            options.append(ConfigFile.Option(long: long, short: short, isFlag: !afterName.hasPrefix(" <")))
        }
        return options
    }

    /// The arguments after the subcommand's name, without `--config FILE` (already being applied).
    static func commandLine(after subcommand: String) -> [String] {
        let all = Array(CommandLine.arguments.dropFirst())
        let start = (all.firstIndex(of: subcommand).map { $0 + 1 }) ?? 0
        var result: [String] = []
        var skip = false
        for argument in all[start...] {
            if skip { skip = false; continue }
            if argument == "--config" { skip = true; continue }
            if argument.hasPrefix("--config=") { continue }
            result.append(argument)
        }
        return result
    }

    /// `command` parsed from `path`'s settings plus the command line; errors name the file.
    static func parse<C: ParsableCommand>(_ command: C.Type, config path: String, subcommand: String) throws -> C {
        // its settings choose feature paths, the clang run and where output goes: whoever can
        // change the file chooses what root compiles, loads and writes
        // (a missing file is ConfigFile's to report)
        do {
            if FileManager.default.fileExists(atPath: path) { try PathTrust.invokingUser.check(path, is: .file) }
        } catch let untrusted as PathTrust.Untrusted {
            throw ValidationErrorText("refusing --config '\(path)': \(untrusted); its settings choose what flowgen compiles, loads and writes as this user, so the file and every folder above it must be owned by root or you and writable by nobody else: fix the owner (`chown`) or mode (`chmod go-w`) of the part named")
        }
        let file = try ConfigFile(path: path)
        let arguments = try file.arguments(options: options(of: command), commandLine: commandLine(after: subcommand),
                                           exclusiveGroups: [["interface", "all"], ["quiet", "verbose"]])
        do {
            return try command.parse(arguments)
        } catch {
            throw ValidationErrorText("with the settings of \(path): \(command.message(for: error))")
        }
    }
}
