import Foundation
import Testing
@testable import FlowgenCore

/// The module API (Templates/module.h): a body or helpers file that reaches past it is refused at
/// its own file and line with what to use instead.
@Suite struct ModuleAPITests {
    static let field = "fields:\n  - name: fa_x\n    type: u32\n    aggregation: sum\n    json: { forward: FA_X_IN }\n"

    /// The error loading module `fa` with this body (and helpers) gives: file, line and message.
    func refusal(body: String, helpers: String? = nil, yamlExtra: String = "") throws -> (file: String, line: Int, message: String)? {
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var files = ["update.bpf.c": body]
        var yaml = "name: fa\n" + Self.field + yamlExtra + "update: update.bpf.c\n"
        if let helpers {
            files["helpers.bpf.c"] = helpers
            yaml += "helpers: helpers.bpf.c\n"
        }
        let path = try writeModule("fa", yaml: yaml, files: files, root: root)
        do {
            _ = try FeatureLoader.load(specPath: path)
            return nil
        } catch let FeatureError.malformed(file, line, message) {
            // the path relative to the module folder, as the user wrote it
            return (String(file.dropFirst(root.count + 1)), line, message)
        }
    }

    @Test func aBodyUsingAnInternalIsRefusedAtItsLine() throws {
        let r = try #require(try refusal(body: "/* fg_flow_new in a comment is fine */\n__u32 v = 1;\nstruct fg_record *n = fg_flow_new(skb, pkt);\nFG_SET(fa_x, v);\n"))
        #expect(r.file == "fa/update.bpf.c" && r.line == 3, "\(r)")
        #expect(r.message.contains("`fg_flow_new`") && r.message.contains("not in the module API") && r.message.contains("FG_SET"), "\(r.message)")
        // an aggregation macro of flowgen's own: FG_SET is what to use
        let agg = try #require(try refusal(body: "FG_SET(fa_x, 1);\nfg_agg_sum(&rec->fa_x, 1);\n"))
        #expect(agg.line == 2 && agg.message.contains("`fg_agg_sum`") && agg.message.contains("FG_SET(field, v)"), "\(agg.message)")
        // a name of the module's own may not take flowgen's prefix
        let own = try #require(try refusal(body: "FG_SET(fa_x, 1);\n", helpers: "\n\nstatic __u32 fg_mine(void) { return 1; }\n"))
        #expect(own.file == "fa/helpers.bpf.c" && own.line == 3 && own.message.contains("`fg_mine`") && own.message.contains("fg_/FG_"), "\(own.message)")
    }

    @Test func aDirectSkbReadIsRefusedNamingTheAPIForm() throws {
        let mark = try #require(try refusal(body: "FG_SET(fa_x, 1);\nif (skb->mark)\n\tFG_SET(fa_x, 2);\n"))
        #expect(mark.file == "fa/update.bpf.c" && mark.line == 2, "\(mark)")
        #expect(mark.message.contains("`skb->mark`") && mark.message.contains("pkt->") && mark.message.contains("Templates/module.h"), "\(mark.message)")
        let len = try #require(try refusal(body: "FG_SET(fa_x, skb -> len);\n"))
        #expect(len.line == 1 && len.message.contains("`skb->len`") && len.message.contains("fg_pkt_len(skb)"), "\(len.message)")
        // in a helpers file too, and in a value: expression (at the field's line of feature.yaml)
        let helper = try #require(try refusal(body: "FG_SET(fa_x, 1);\n", helpers: "static __u32 fa_len(struct __sk_buff *skb)\n{\n\treturn skb->len;\n}\n"))
        #expect(helper.file == "fa/helpers.bpf.c" && helper.line == 3, "\(helper)")
        let root = temporaryModuleRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try writeModule("fb", yaml: "name: fb\nfields:\n  - name: fb_x\n    aggregation: sum\n    value: skb->data_end - skb->data\n    export: false\n", root: root)
        #expect(throws: FeatureError.malformed(file: path, line: 3, message: "module 'fb' reads `skb->data_end` directly; use FG_PTR(skb, off, len) or FG_LOAD(skb, off, dst, len) (the module API: Templates/module.h)")) {
            _ = try FeatureLoader.load(specPath: path)
        }
    }

    @Test func returnAndGotoAreRefusedInABodyNotInHelpers() throws {
        let ret = try #require(try refusal(body: "/* return early */\nif (pkt->ttl == 0)\n\treturn;\nFG_SET(fa_x, 1);\n"))
        #expect(ret.line == 3 && ret.message.contains("must not `return`"), "\(ret.message)")
        let jmp = try #require(try refusal(body: "if (pkt->ttl == 0)\n\tgoto out;\nFG_SET(fa_x, 1);\nout:;\n"))
        #expect(jmp.line == 2 && jmp.message.contains("must not `goto`"), "\(jmp.message)")
        // what the API offers passes: packet access, clocks, the reverse record, raw BPF helpers,
        // the module's own parameter, FG_NATIVE, a helper function that returns, and words inside
        // strings and comments
        let fine = try refusal(body: """
            __u8 *b = FG_PTR(skb, pkt->l4_off, 1); /* skb->len, return */
            __u8 buf[4];
            __u32 full, last;
            fg_segment_sizes(skb, pkt, &full, &last);
            struct fg_record *rev = fg_flow_reverse(pkt);
            #ifndef FG_NATIVE
            __u32 cpu = bpf_get_smp_processor_id();
            #endif
            if (b && FG_LOAD(skb, 0, buf, 4) == 0 && rev && fg_now_precise(pkt) > pkt->now)
            \tFG_SET(fa_x, fa_twice(fg_pkt_len(skb)) + FG_PARAM_FA_K + full + last);
            const char *s = "fg_flow_new skb->mark";
            """, helpers: "static __always_inline __u32 fa_twice(__u32 v)\n{\n\treturn 2 * v;\n}\n",
            yamlExtra: "parameters:\n  - { name: k, default: 1, min: 0, max: 9 }\n")
        #expect(fine == nil, "\(String(describing: fine))")
    }

    @Test func everyAPINameIsInTheHeaderAndTheDocs() throws {
        let resources = try ResourceLocator.locate()
        let header = try resources.template("module.h")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let docs = try String(contentsOfFile: repository + "/docs/modules.md", encoding: .utf8)
        for (name, _) in ModuleSource.api {
            #expect(header.contains(name), "\(name) is not in Templates/module.h")
            #expect(docs.contains("`\(name)") || docs.contains("\(name)`"), "\(name) is not in docs/modules.md")
        }
        // the header defines what the list names, and nothing else of flowgen's reaches modules
        for defined in ["struct fg_pkt {", "fg_pkt_len(const struct __sk_buff *skb)", "#define FG_SET(", "#define FG_ADD_BIN(",
                        "fg_now_precise(struct fg_pkt *pkt)", "#define fg_flow_reverse(", "fg_segment_sizes(struct __sk_buff *skb",
                        "#define FG_PTR(", "#define FG_LOAD("] {
            #expect(header.contains(defined), "\(defined)")
        }
    }
}
