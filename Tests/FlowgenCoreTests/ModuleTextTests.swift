import Foundation
import Testing
@testable import FlowgenCore

/// Module text that reaches generated C or a terminal: one-line expressions without preprocessor
/// or comment syntax, and no control characters in the free-text keys.
@Suite struct ModuleTextTests {
    @Test func expressionsAreOneLineOfPlainC() throws {
        let field = "name: m\nfields:\n  - name: x\n    aggregation: sum\n"
        // the reported one: a newline takes `#define` past the check for ';' and braces
        try expectMalformed(field + "    value: \"1\\n#define pkt 0\"\n", line: 5, containing: "on one line, without newlines")
        try expectMalformed(field + "    value: \"1 \\\\\\n+ 2\"\n", line: 5, containing: "on one line")       // backslash-newline
        try expectMalformed(field + "    value: \"1\\r+ 2\"\n", line: 5, containing: "on one line")
        try expectMalformed(field + "    value: \"1\\t+ 2\"\n", line: 5, containing: "on one line")
        try expectMalformed(field + "    value: \"1 # 2\"\n", line: 5, containing: "no '#'")
        try expectMalformed(field + "    value: \"1 // 2\"\n", line: 5, containing: "no comments")
        try expectMalformed(field + "    value: \"1 /* 2 */\"\n", line: 5, containing: "no comments")
        try expectMalformed(field + "    value: \"1 \\\\\"\n", line: 5, containing: "no trailing backslash")
        // `initial:` and `none:` are numbers, so no text of them reaches the C
        try expectMalformed(field + "    value: \"1\"\n    initial: \"0\\n#pragma once\"\n", line: 6, containing: "`initial` must be a number")
        try expectMalformed(field + "    value: \"1\"\n    none: \"0\\n#x\"\n", line: 6, containing: "`none` must be a number")
    }

    @Test func controlCharactersInFreeTextAreRefused() throws {
        try expectMalformed("name: m\nsummary: \"red \\e[31m\"\n", line: 2, containing: "`summary` holds the control character U+001B")
        try expectMalformed("name: m\nrequires: [\"base\\nx\"]\n", line: 2, containing: "`requires` holds the control character U+000A")
        try expectMalformed("name: m\ndefines: \"FG_X\\n#define Y\"\n", line: 2, containing: "`defines` holds the control character")
        try expectMalformed("name: m\nfields:\n" + namedField("x", json: "{ forward: X }") + "    ipfix: { id: 5, name: \"a\\u0085b\" }\n",
                            line: 7, containing: "`name` holds the control character U+0085")
        try expectMalformed("name: m\nupdate: \"u\\n.c\"\n", line: 2, containing: "`update` holds the control character U+000A")
        // a quote would end the file name of the `#line` directive that points at the C file
        try expectMalformed("name: m\nhelpers: \"h\\\".c\"\n", line: 2, containing: "which a C `#line` directive cannot carry")
    }

    @Test func aFeaturePathWithAQuoteCannotNameCFiles() throws {
        let top = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let path = try writeModule("m", yaml: "name: m\nupdate: update.bpf.c\n", files: ["update.bpf.c": "\n"], root: top + "/q\"uote")
        do {
            _ = try FeatureLoader.load(specPath: path)
            Issue.record("a C file under a path with a quote was accepted")
        } catch let FeatureError.malformed(file, line, message) {
            #expect(file == path && line == 2)
            #expect(message.contains("cannot carry"), "\(message)")
        }
        // the same module without C loads: only `#line` needs the path
        try "name: m\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try FeatureLoader.load(specPath: path).name == "m")
    }
}
