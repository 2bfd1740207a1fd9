/// The C that chains tail-called stages: the prog array (initialised in the object, so any libbpf
/// loader gets a working pipeline), the per-CPU packet context, one dispatch function per stage
/// that tail-calls the next stage whose features apply to the packet, and the stage programs.
/// Empty for a one-stage plan, so the common case pays nothing.
struct StagedCode {
    var maps = ""
    var dispatchFunctions = ""
    var entryDispatch = ""
    var programs = ""

    init(plan: Plan, modules: [[FeatureModule]], stageTemplate: String, updates: ([FeatureModule]) -> String) {
        guard plan.stages.count > 1 else { return }
        let names = plan.stages.map(\.program)
        maps = names.dropFirst().map { "int \($0)(struct __sk_buff *skb);" }.joined(separator: "\n")
        maps += """

        /* Parsed packet handed to later stages: offsets, never pointers. */
        struct {
        \t__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        \t__uint(max_entries, 1);
        \t__type(key, __u32);
        \t__type(value, struct fg_pkt);
        } fg_ctx SEC(".maps");

        /* Tail-call slots, filled when libbpf loads the object. */
        struct {
        \t__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
        \t__uint(max_entries, \(plan.stages.count));
        \t__type(key, __u32);
        \t__array(values, int (struct __sk_buff *));
        } fg_stages SEC(".maps") = {
        \t.values = {
        \(names.enumerated().dropFirst().map { "\t\t[\($0.offset)] = (void *)&\($0.element)," }.joined(separator: "\n"))
        \t},
        };

        """
        // A stage runs only when one of its features applies to the packet.
        let conditions: [String] = modules.map { stageModules in
            let conds = stageModules.filter(CodeGenerator.hasUpdates).map { CodeGenerator.condition($0.appliesTo) }
            if conds.isEmpty { return "0" }
            if conds.contains(where: { $0 == nil }) { return "1" }
            return conds.map { "(\($0!))" }.joined(separator: " || ")
        }
        var functions: [String] = []
        for stage in 0..<plan.stages.count {
            var body: [String] = []
            for next in (stage + 1)..<max(stage + 1, plan.stages.count) where conditions[next] != "0" {
                body.append("\t\(body.isEmpty ? "" : "else ")if (\(conditions[next])) {")
                if stage == 0 {
                    body.append("\t\tstruct fg_pkt *ctx = bpf_map_lookup_elem(&fg_ctx, &zero);")
                    body.append("\t\tif (!ctx)")
                    body.append("\t\t\treturn;")
                    body.append("\t\t*ctx = *pkt;")
                }
                body.append("\t\tbpf_tail_call(skb, &fg_stages, \(next));")
                body.append("\t\tfg_count(FG_CNT_TAIL_CALL_FAILED); /* reached only when the call failed */")
                body.append("\t}")
            }
            let zero = stage == 0 && !body.isEmpty ? "\t__u32 zero = 0;\n" : ""
            functions.append("""
            static __always_inline void fg_dispatch_\(stage)(struct __sk_buff *skb, struct fg_pkt *pkt)
            {
            \(zero)\(body.joined(separator: "\n"))
            }
            """)
        }
        dispatchFunctions = "\n" + functions.joined(separator: "\n\n") + "\n"
        entryDispatch = "\tfg_dispatch_0(skb, &pkt);"
        programs = "\n" + (1..<plan.stages.count).map { i in
            stageTemplate
                .replacingOccurrences(of: "{{N}}", with: String(i))
                .replacingOccurrences(of: "{{PROGRAM}}", with: names[i])
                .replacingOccurrences(of: "{{UPDATES}}", with: updates(modules[i]))
        }.joined(separator: "\n")
    }
}
