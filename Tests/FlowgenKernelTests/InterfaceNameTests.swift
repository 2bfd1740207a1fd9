import Testing
@testable import FlowgenKernel

/// Interface names as the kernel's `dev_valid_name` allows them, less control characters.
@Suite struct InterfaceNameTests {
    @Test func namesTheKernelAcceptsPass() {
        // 15 bytes is IFNAMSIZ (16) less the NUL; length counts bytes, so 7 two-byte letters fit
        for name in ["lo", "eth0", "a", "abcdefghijklmno", "veth-a.100", "br_0", "wg@x", ".a", "...", "ééééééé"] {
            #expect(InterfaceName.problem(name) == nil, "\(name)")
        }
    }

    @Test func namesTheKernelRefusesOrThatHoldControlCharactersFail() {
        let refused: [(String, String)] = [
            ("", "is empty"),
            ("abcdefghijklmnop", "is 16 bytes long"),
            ("éééééééé", "is 16 bytes long"),
            (".", "is '.'"), ("..", "is '..'"),
            ("a/b", "contains '/'"), ("eth0:1", "contains ':'"),
            ("a b", "contains whitespace"), ("a\u{3000}b", "contains whitespace"),
            ("eth0\u{0}", "contains the control character U+0000"),
            ("eth\u{0}0", "contains the control character U+0000"),
            ("a\tb", "contains the control character U+0009"),
            ("eth0\n", "contains the control character U+000A"),
            ("e\u{1B}[31m", "contains the control character U+001B"),
            ("eth\u{7F}", "contains the control character U+007F"),
            ("à", "contains the byte 0xA0, which the kernel reads as a space"),  // "à" is C3 A0 in UTF-8
        ]
        for (name, problem) in refused {
            #expect(InterfaceName.problem(name) == problem, "\(name.debugDescription)")
        }
    }

    @Test func theErrorNamesTheBadNameVisiblyAndWhatIsAllowed() {
        #expect(throws: (any Error).self) { try InterfaceName.validate("eth0\u{1B}") }
        do {
            try InterfaceName.validate("eth0\u{1B}")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("invalid interface name 'eth0<U+001B>': it contains the control character U+001B; "), "\(message)")
            #expect(message.contains("1 to 15 bytes without '/', ':', whitespace or control characters, and not '.' or '..'"), "\(message)")
            #expect(!message.contains("\u{1B}"))
        }
    }
}
