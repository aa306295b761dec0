import CPlatform
import Glibc

/// Asks for a passphrase on the terminal of standard input, with echo off.
enum TerminalPrompt {
    static func passphrase(confirm: Bool) throws(KeySourceError) -> SecureBytes {
        guard isatty(0) == 1 else { throw .noTerminal }
        let first = try ask("Passphrase: ")
        guard first.count > 0 else { throw .promptAborted }
        if confirm {
            let second = try ask("Repeat passphrase: ")
            guard first.constantTimeEquals(second) else { throw .passphrasesDiffer }
        }
        return first
    }

    private static func ask(_ prompt: String) throws(KeySourceError) -> SecureBytes {
        writeStderr(prompt)
        // Echo back on if the user interrupts; restored below in every other case.
        let previous = signal(SIGINT) { _ in
            _ = tdefs_set_echo(0, 1)
            _exit(130)
        }
        let echoOff = tdefs_set_echo(0, 0) == 0
        defer {
            if echoOff { _ = tdefs_set_echo(0, 1) }
            signal(SIGINT, previous)
            writeStderr("\n")
        }
        let buf = SecretBuffer()
        var byte: UInt8 = 0
        var sawAny = false
        while true {
            let n = read(0, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            sawAny = true
            if byte == 0x0A { break }
            buf.append(byte)
        }
        byte = 0
        guard sawAny else { throw .promptAborted }
        var end = buf.count
        if end > 0 && buf.bytes[end - 1] == 0x0D { end -= 1 }
        return buf.secure(0..<end)
    }

    static func writeStderr(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
    }
}
