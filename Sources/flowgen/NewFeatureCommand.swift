import ArgumentParser
import Foundation
import FlowgenCore

/// `flowgen new-feature NAME`: writes a working module folder to start a new metric from.
struct NewFeatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-feature",
        abstract: "Write a new feature module folder: feature.yaml, a C body and a test vector.",
        discussion: """
        Writes DIR/NAME/feature.yaml (commented), DIR/NAME/update.bpf.c and DIR/NAME/tests/NAME.yaml, \
        a module that counts large packets and keeps the largest payload per direction, with a test \
        vector that passes as written. Folders are created 0755 and files 0644, owned by you (with \
        sudo: by the user who ran sudo); an existing folder is never overwritten. DIR is then a \
        feature path. Tutorial: docs/modules.md, "Writing a module".

          flowgen new-feature syn_count --dir ~/flowgen-features
          flowgen test --feature-path ~/flowgen-features syn_count
          flowgen build --feature-path ~/flowgen-features --features syn_count
        """)

    @Argument(help: ArgumentHelp("The module's name: letters, digits and _ (a C identifier), also its folder's name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The feature path to write the module folder in (default: the current folder; created if only its last part is missing).", valueName: "dir"))
    var dir: String = "."

    func validate() throws {
        try CommandLineText.refuseControlCharacters([name], option: "module name")
        try CommandLineText.refuseControlCharacters([dir], option: "--dir")
        let builtIn = (try? FeatureLoader(searchPaths: [ResourceLocator.locate().features], trust: nil).loadAll().map(\.name)) ?? []
        do {
            _ = try ModuleScaffold(name: name, existing: builtIn)
        } catch let error as ScaffoldError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let builtIn = (try? FeatureLoader(searchPaths: [ResourceLocator.locate().features], trust: nil).loadAll().map(\.name)) ?? []
        let scaffold: ModuleScaffold
        do {
            scaffold = try ModuleScaffold(name: name, existing: builtIn)
        } catch let error as ScaffoldError {
            throw ValidationErrorText(error.description)
        }
        // with sudo the files are the user's, as if they had run it themselves
        var owner: (uid: uid_t, gid: gid_t)?
        let env = ProcessInfo.processInfo.environment
        if geteuid() == 0, let uid = env["SUDO_UID"].flatMap(uid_t.init), let gid = env["SUDO_GID"].flatMap(gid_t.init) {
            owner = (uid, gid)
        }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
            guard mkdir(dir, 0o755) == 0 else {
                throw ValidationErrorText("cannot create --dir '\(dir)': \(String(cString: strerror(errno))) (create the folders above it first)")
            }
            chmod(dir, 0o755)
            if let owner { _ = lchown(dir, owner.uid, owner.gid) }
        } else if !isDirectory.boolValue {
            throw ValidationErrorText("--dir '\(dir)' is a file, not a folder")
        }
        let module: String
        do {
            module = try scaffold.write(in: dir, owner: owner)
        } catch let error as ScaffoldError {
            throw ValidationErrorText(error.description)
        }
        print("wrote \(module)/: feature.yaml, update.bpf.c, tests/\(name).yaml")
        // the folder is only usable as a feature path if flowgen trusts it: say so now, not at build time
        do {
            _ = try FeatureLoader(searchPaths: [dir]).loadAll()
        } catch {
            print("note: flowgen will refuse this feature path as it is: \(error)")
        }
        print("""
        next:
          flowgen test --feature-path \(dir) \(name)
          flowgen build --feature-path \(dir) --features \(name)
        """)
    }
}
