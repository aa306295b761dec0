/// One request's scratch memory, taken from the engine's pool so that reads and writes allocate
/// nothing: ciphertext for a chunk of up to 64 extents (a larger request is served in chunks, one
/// pread or pwrite each: 256 KiB chunks cost nothing measurable against 1 MiB ones and keep each
/// busy worker's memory small), one extent's plaintext, one stored extent, and the chunk's nonces.
struct Workspace {
    static let extents = 64
    static let byteCount = extents * ExtentGeometry.storedBytes + ExtentGeometry.plainBytes
        + ExtentGeometry.storedBytes + extents * AESGCM.nonceBytes

    let cipher: UnsafeMutableRawBufferPointer
    let plain: UnsafeMutableRawPointer
    let stored: UnsafeMutableRawPointer
    let nonces: UnsafeMutableRawPointer

    init(_ memory: UnsafeMutableRawBufferPointer) {
        let base = memory.baseAddress!
        let cipherBytes = Self.extents * ExtentGeometry.storedBytes
        cipher = UnsafeMutableRawBufferPointer(start: base, count: cipherBytes)
        plain = base + cipherBytes
        stored = plain + ExtentGeometry.plainBytes
        nonces = stored + ExtentGeometry.storedBytes
    }
}

extension FileSystem {
    @inline(__always)
    func withWorkspace<R, E: Error>(_ body: (Workspace) throws(E) -> R) throws(E) -> R {
        try workspaces.withBuffer { (memory) throws(E) -> R in try body(Workspace(memory)) }
    }
}
