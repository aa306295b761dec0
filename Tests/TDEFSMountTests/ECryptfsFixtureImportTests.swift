import Foundation
import Glibc
import XCTest

/// Issue 14, item 4: lower directories written by a real Linux kernel's eCryptfs (6.1, made by
/// scripts/ecryptfs-fixtures.sh in a qemu guest; see Tests/Fixtures/ECryptfs/README.md) are
/// imported with `tdefs import --from-ecryptfs` and read through `tdefs mount --ecryptfs`; every
/// file's SHA-256 must equal the one the guest computed through its own eCryptfs mount.
final class ECryptfsFixtureImportTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/ECryptfs").path
    static let variants = ["aes128-fnek", "aes192-fnek", "aes256-fnek", "aes256-plainnames",
                           "aes256-fnek-xattrmeta", "aes256-sepfnek"]

    func params(_ variant: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for line in try String(contentsOfFile: "\(Self.fixtures)/\(variant)/PARAMS", encoding: .utf8).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let value = line[line.index(after: eq)...].split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
            out[String(line[..<eq])] = value
        }
        return out
    }

    /// path → sha256 as the guest's eCryptfs mount read it.
    func expectedHashes(_ variant: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for line in try String(contentsOfFile: "\(Self.fixtures)/\(variant)/sha256.txt", encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            out[String(parts[1].drop(while: { $0 == " " }))] = String(parts[0])
        }
        return out
    }

    func hashes(under root: String, paths: some Sequence<String>) throws -> [String: String] {
        var out: [String: String] = [:]
        for p in paths {
            let r = runCommand("/usr/bin/sha256sum", ["--", root + "/" + p])
            XCTAssertEqual(r.status, 0, r.summary)
            out[p] = r.stdout.split(separator: " ").first.map(String.init) ?? ""
        }
        return out
    }

    /// Unpacks the variant's lower.tar (one top folder, `lower`) in `base`; returns the lower directory.
    func unpack(_ variant: String, in base: String) -> String {
        let r = runCommand("/bin/tar", ["--xattrs", "--xattrs-include=*", "-xf", "\(Self.fixtures)/\(variant)/lower.tar", "-C", base])
        XCTAssertEqual(r.status, 0, r.summary)
        return base + "/lower"
    }

    /// The guest's manifest.txt (scripts/lib/ecryptfs-guest-init.sh, `manifest`) made again from `root`.
    func manifest(of root: String) -> String {
        let script = #"""
            cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
                t=$(stat -c %F "$f"); m=$(stat -c %a "$f"); l=$(stat -c %h "$f"); s=$(stat -c %s "$f"); y=$(stat -c %Y "$f")
                case $t in
                    "symbolic link") echo "symlink mode=$m nlink=$l size=$s mtime=$y path=$f target=$(readlink "$f")" ;;
                    directory)       echo "dir mode=$m mtime=$y path=$f" ;;
                    *)               echo "file mode=$m nlink=$l size=$s mtime=$y path=$f" ;;
                esac
            done
            """#
        let r = runCommand("/bin/bash", ["-c", script, "manifest", root])
        XCTAssertEqual(r.status, 0, r.summary)
        return r.stdout
    }

    /// getfattr's blocks (one per file with user.* attributes), in listing order, sorted here.
    func userXattrs(of root: String) -> [String] {
        let out = runCommand("/bin/bash", ["-c", "cd \"$1\" && getfattr -d -m '^user\\.' --absolute-names -R . 2>/dev/null", "x", root]).stdout
        return Self.blocks(out)
    }

    /// Without user.ecryptfs: the kernel lists the xattr variant's metadata through its mount,
    /// tdefs keeps it out of the imported file (it is eCryptfs' header, not the user's attribute).
    static func blocks(_ getfattr: String) -> [String] {
        getfattr.components(separatedBy: "\n\n")
            .map { $0.split(separator: "\n").filter { !$0.hasPrefix("user.ecryptfs=") }.joined(separator: "\n") }
            .filter { $0.contains("\n") }.sorted()
    }

    func write(_ text: String, _ path: String) throws {
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    func testEveryKernelVariantImportsAndMountsReadOnlyWithTheKernelsContent() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        for variant in Self.variants {
            let vol = TestVolume(bin: bin, prefix: "tdefs-ECFix")
            defer { vol.destroy() }
            let p = try params(variant)
            let expected = try expectedHashes(variant)
            XCTAssertGreaterThan(expected.count, 3, variant)
            let lower = unpack(variant, in: vol.base)
            let passFile = vol.base + "/pass"
            try write(try XCTUnwrap(p["passphrase"], variant), passFile)
            var keyArgs = ["--ecryptfs-passphrase-file", passFile]
            if let fnekPass = p["fnek_passphrase"] {
                try write(fnekPass, vol.base + "/fnek")
                keyArgs += ["--ecryptfs-fnek-passphrase-file", vol.base + "/fnek"]
            }

            let backing = vol.base + "/imported"
            let imp = vol.tdefs(["import", "--from-ecryptfs", lower, backing, "--key-file", vol.keyFile] + keyArgs)
            XCTAssertEqual(imp.status, 0, "\(variant): \(imp.summary)")
            let mnt = vol.base + "/mnt"
            mkdir(mnt, 0o755)
            let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile])
            XCTAssertEqual(m.status, 0, "\(variant): \(m.summary)")
            defer { _ = vol.tdefs(["unmount", mnt]) }
            XCTAssertEqual(try hashes(under: mnt, paths: expected.keys), expected, "\(variant): imported content")
            XCTAssertEqual(manifest(of: mnt), try String(contentsOfFile: "\(Self.fixtures)/\(variant)/manifest.txt", encoding: .utf8),
                           "\(variant): imported names, kinds, modes, links, sizes, mtimes and targets")
            XCTAssertEqual(userXattrs(of: mnt), Self.blocks(try String(contentsOfFile: "\(Self.fixtures)/\(variant)/user-xattrs.txt", encoding: .utf8)),
                           "\(variant): imported user xattrs")
            let ic = runCommand("/usr/bin/sqlite3", [mnt + "/app.db", "PRAGMA integrity_check;"])
            XCTAssertEqual(ic.stdout, "ok\n", "\(variant): \(ic.summary)")

            let ro = vol.base + "/ro"
            mkdir(ro, 0o755)
            let rm = vol.tdefs(["mount", "--ecryptfs", lower, ro] + keyArgs + ["-o", "ro"])
            XCTAssertEqual(rm.status, 0, "\(variant): \(rm.summary)")
            defer { _ = vol.tdefs(["unmount", ro]) }
            XCTAssertEqual(try hashes(under: ro, paths: expected.keys), expected, "\(variant): read-only view")
            XCTAssertEqual(manifest(of: ro), try String(contentsOfFile: "\(Self.fixtures)/\(variant)/manifest.txt", encoding: .utf8),
                           "\(variant): read-only view's names, kinds, modes, links, sizes, mtimes and targets")
        }
    }

    func testKernelWrappedPassphraseImports() throws {
        let bin = try Harness.requireMountable(needsRoot: true)
        let vol = TestVolume(bin: bin, prefix: "tdefs-ECFixW")
        defer { vol.destroy() }
        let lower = unpack("aes256-fnek", in: vol.base)
        let login = vol.base + "/login"
        try write("tdefs-login-passphrase", login)
        let backing = vol.base + "/imported"
        let imp = vol.tdefs(["import", "--from-ecryptfs", lower, backing, "--key-file", vol.keyFile,
                             "--ecryptfs-wrapped-passphrase", "\(Self.fixtures)/wrapped/wrapped-passphrase",
                             "--login-passphrase-file", login])
        XCTAssertEqual(imp.status, 0, imp.summary)
        let mnt = vol.base + "/mnt"
        mkdir(mnt, 0o755)
        let m = vol.tdefs(["mount", backing, mnt, "--key-file", vol.keyFile])
        XCTAssertEqual(m.status, 0, m.summary)
        defer { _ = vol.tdefs(["unmount", mnt]) }
        let expected = try expectedHashes("aes256-fnek")
        XCTAssertEqual(try hashes(under: mnt, paths: expected.keys), expected)
    }
}
