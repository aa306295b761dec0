import CPlatform
import Glibc
import Logging

/// Extent-level reading, writing and truncation of one regular file's content through a backing
/// descriptor. Callers hold the file's content lock (shared for reads, exclusive otherwise).
struct ContentIO {
    let fd: Int32
    let header: LoadedHeader
    let fs: FileSystem
    let inode: Inode

    static let P = Int64(ExtentGeometry.plainBytes)
    static let S = Int64(ExtentGeometry.storedBytes)
    static let nonce = AESGCM.nonceBytes
    static let tag = AESGCM.tagBytes

    /// Format v2 (docs/format.md): no holes, and the extent at the end of the file carries the
    /// final flag, so zeroed, punched or cut ciphertext is damage instead of zeros.
    var v2: Bool { header.header.version >= 2 }
    /// The rules of the file's current key, and during a re-key of its previous one.
    var codec: ExtentCodec { ExtentCodec(fileID: header.header.fileID, version: header.header.version) }
    var previousCodec: ExtentCodec { ExtentCodec(fileID: header.header.fileID, version: header.previousVersion) }

    /// Without asking for the times (see tdefs_fd_size): reads and writes must not make the
    /// backing filesystem stamp the next write with a fine-grained time.
    func backingSize() throws(Errno) -> Int64 {
        var size: Int64 = 0
        _ = try sys { tdefs_fd_size(fd, &size) }
        return size
    }

    func plainSize() throws(Errno) -> Int64 { ExtentGeometry.plainSize(backingSize: try backingSize()) }

    // MARK: Reading

    /// Reads plaintext [offset, offset + buffer.count) clipped to the file size; returns the count.
    func read(offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        let bsize = try backingSize()
        let size = ExtentGeometry.plainSize(backingSize: bsize)
        let end = min(size, offset + Int64(buffer.count))
        // A torn last extent (1 to 32 stray bytes) must not read as a silently shorter file.
        if end == size && buffer.count > 0 && ExtentGeometry.hasDamagedTail(backingSize: bsize) {
            throw damaged(extent: size / Self.P, why: "file ends in a torn extent")
        }
        if offset >= size || buffer.count == 0 { return 0 }
        let first = offset / Self.P, last = (end - 1) / Self.P
        return try fs.withWorkspace { (ws) throws(Errno) -> Int in
            let cbuf = ws.cipher.baseAddress!
            return try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) -> Int in
                var produced = 0
                // One pread per chunk of up to Workspace.extents extents.
                var chunkFirst = first
                while chunkFirst <= last {
                    let chunkLast = min(last, chunkFirst + Int64(Workspace.extents) - 1)
                    let start = ExtentGeometry.backingOffset(ofExtent: chunkFirst)
                    let want = Int(min(bsize, ExtentGeometry.backingOffset(ofExtent: chunkLast + 1)) - start)
                    let got = try preadFully(cbuf, want, start)
                    for j in chunkFirst...chunkLast {
                        let extStart = j * Self.P
                        let extLen = Int(min(Self.P, size - extStart))
                        let from = Int(max(offset, extStart) - extStart)
                        let to = Int(min(end, extStart + Self.P) - extStart)
                        let slot = Int(j - chunkFirst) * Int(Self.S)
                        let stored = UnsafeRawBufferPointer(start: cbuf + slot,
                                                            count: max(0, min(extLen + ExtentGeometry.overhead, got - slot)))
                        let out = buffer.baseAddress! + produced
                        let atEnd = extStart + Int64(extLen) == size
                        if from == 0 && to == extLen {
                            try decrypt(extent: j, stored: stored, plainLength: extLen, atEnd: atEnd, into: out, gcm: gcm)
                        } else {
                            try decrypt(extent: j, stored: stored, plainLength: extLen, atEnd: atEnd, into: ws.plain, gcm: gcm)
                            out.copyMemory(from: ws.plain + from, byteCount: to - from)
                        }
                        produced += to - from
                    }
                    chunkFirst = chunkLast + 1
                }
                return produced
            }
        }
    }

    /// Decrypts one stored extent (or, in v1, a hole) into `plainLength` bytes at `out`; EIO when
    /// damaged. `atEnd`: the extent ends the file, so in v2 it must carry the final flag. Returns
    /// whether the extent opened by v2's rules with the final flag set.
    @discardableResult
    func decrypt(extent j: Int64, stored: UnsafeRawBufferPointer, plainLength: Int, atEnd: Bool,
                 into out: UnsafeMutableRawPointer, gcm: AESGCM) throws(Errno) -> Bool {
        if let opened = codec.open(extent: j, stored: stored, plainLength: plainLength, atEnd: atEnd, into: out, gcm: gcm) {
            return opened.isFinalV2
        }
        // During a re-key, extents not yet converted are still under the previous key, and (when
        // the re-key moves the file to v2) in the previous version: a v1 hole reads as zeros.
        if let previous = header.previousKey {
            let old = previousCodec
            if let opened = fs.gcmContexts.withContext(key: previous, size: header.previousSize, {
                old.open(extent: j, stored: stored, plainLength: plainLength, atEnd: atEnd, into: out, gcm: $0)
            }) { return opened.isFinalV2 }
        }
        throw damaged(extent: j, why: "extent " + codec.failure(stored: stored, plainLength: plainLength, atEnd: atEnd))
    }

    /// A file whose key has sealed half of the random-nonce bound, or nearly all of it (NonceBudget).
    func reportNonceBudget(_ n: UInt64) {
        let share = n == NonceBudget.halfway ? "half" : "nearly all"
        let message = "file has used \(share) of its key's random-nonce bound (\(n) of 2^32 extent writes, docs/format.md): "
            + "run tdefs rotate --reencrypt to give it a new key"
        fs.logger.warning("\(message)", metadata: ["path": "\(fs.path(of: inode))"])
    }

    func damaged(extent j: Int64, why: String) -> Errno {
        fs.logger.error("damaged extent: \(why)", metadata: ["path": "\(fs.path(of: inode))", "extent": "\(j)", "errno": "\(Glibc.EIO)"])
        fs.counters.authenticationFailed(.extent)
        return Errno.EIO
    }

    // MARK: Writing

    /// Writes `data` at plaintext `offset`, growing the file as needed.
    func write(offset: Int64, data: UnsafeRawBufferPointer) throws(Errno) {
        if data.count == 0 { return }
        let oldSize = try plainSize()
        let end = offset + Int64(data.count)
        // A partial last extent before the write's first extent becomes a full one, padded with zeros.
        let oldLastExtent = oldSize / Self.P
        if oldSize % Self.P != 0 && oldLastExtent < offset / Self.P {
            try resizeExtent(oldLastExtent, oldSize: oldSize, newLength: Int(Self.P))
        }
        let newSize = max(oldSize, end)
        let last = (end - 1) / Self.P, finalExtent = (newSize - 1) / Self.P
        let oldExtents = (oldSize + Self.P - 1) / Self.P, oldFinalExtent = oldExtents - 1
        // v2 has no holes: extents between the old end and the write are written as encrypted zeros.
        let first = v2 ? min(offset / Self.P, oldExtents) : offset / Self.P
        try fs.withWorkspace { (ws) throws(Errno) in
            let cbuf = ws.cipher.baseAddress!
            try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) in
                // One pwrite per chunk of up to Workspace.extents extents.
                var chunkFirst = first
                while chunkFirst <= last {
                    let chunkLast = min(last, chunkFirst + Int64(Workspace.extents) - 1)
                    var written = 0
                    fillNonces(ws, count: Int(chunkLast - chunkFirst + 1))
                    for j in chunkFirst...chunkLast {
                        let extStart = j * Self.P
                        let newLen = Int(min(Self.P, newSize - extStart))
                        let oldLen = Int(max(0, min(Self.P, oldSize - extStart)))
                        // Clamped: a gap extent (v2) lies wholly before the write and takes none of it.
                        let from = Int(min(Self.P, max(offset, extStart) - extStart))
                        let to = Int(max(Int64(from), min(end, extStart + Self.P) - extStart))
                        let slot = cbuf + Int(j - chunkFirst) * Int(Self.S)
                        let src = data.baseAddress! + Int(max(0, extStart + Int64(from) - offset))
                        // Final: the new end; the old end (kept final, so that a crash before the
                        // growth reaches the disk leaves a readable file); and, while growing, the
                        // end of each pwrite, a point where a crash can leave the file's end.
                        let final = j == finalExtent || j == oldFinalExtent || (j >= oldExtents && j == chunkLast)
                        if from == 0 && to == newLen {
                            try seal(extent: j, plain: UnsafeRawBufferPointer(start: src, count: newLen), final: final, slot: slot, gcm: gcm)
                        } else {
                            // An edge extent: read, modify, write.
                            let t = ws.plain
                            if oldLen > 0 {
                                try readExtent(j, plainLength: oldLen, atEnd: extStart + Int64(oldLen) == oldSize, into: t, gcm: gcm, ws: ws)
                            }
                            if newLen > oldLen { (t + oldLen).initializeMemory(as: UInt8.self, repeating: 0, count: newLen - oldLen) }
                            if to > from { (t + from).copyMemory(from: src, byteCount: to - from) }
                            try seal(extent: j, plain: UnsafeRawBufferPointer(start: t, count: newLen), final: final, slot: slot, gcm: gcm)
                        }
                        written = Int(j - chunkFirst) * Int(Self.S) + newLen + ExtentGeometry.overhead
                    }
                    try pwriteFully(cbuf, written, ExtentGeometry.backingOffset(ofExtent: chunkFirst))
                    chunkFirst = chunkLast + 1
                }
            }
        }
    }

    /// Re-encrypts extent `j` (currently holding min(4096, oldSize - j*4096) bytes) with `newLength`
    /// bytes: cut short, or padded with zeros. `j` is the last extent, before (`atEnd`) and after:
    /// it stays final in v2, so a crash before the file grows on leaves it readable.
    func resizeExtent(_ j: Int64, oldSize: Int64, newLength: Int, atEnd: Bool = true) throws(Errno) {
        let oldLen = Int(max(0, min(Self.P, oldSize - j * Self.P)))
        try fs.withWorkspace { (ws) throws(Errno) in
            try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) in
                let plain = ws.plain, slot = ws.cipher.baseAddress!
                if oldLen > 0 { try readExtent(j, plainLength: oldLen, atEnd: atEnd, into: plain, gcm: gcm, ws: ws) }
                if newLength > oldLen { (plain + oldLen).initializeMemory(as: UInt8.self, repeating: 0, count: newLength - oldLen) }
                fillNonces(ws, count: 1)
                try seal(extent: j, plain: UnsafeRawBufferPointer(start: plain, count: newLength), final: true, slot: slot, gcm: gcm)
                try pwriteFully(slot, newLength + ExtentGeometry.overhead, ExtentGeometry.backingOffset(ofExtent: j))
            }
        }
    }

    /// Reads and decrypts one extent of `plainLength` bytes (through the workspace's stored-extent area).
    /// Returns whether it is a final v2 extent.
    @discardableResult
    func readExtent(_ j: Int64, plainLength: Int, atEnd: Bool, into out: UnsafeMutableRawPointer, gcm: AESGCM,
                    ws: Workspace) throws(Errno) -> Bool {
        let got = try preadFully(ws.stored, plainLength + ExtentGeometry.overhead, ExtentGeometry.backingOffset(ofExtent: j))
        return try decrypt(extent: j, stored: UnsafeRawBufferPointer(start: ws.stored, count: got),
                    plainLength: plainLength, atEnd: atEnd, into: out, gcm: gcm)
    }

    /// Encrypts into a slot whose first 16 bytes already hold a fresh random nonce (ExtentCodec.seal).
    func seal(extent j: Int64, plain: UnsafeRawBufferPointer, final: Bool, slot: UnsafeMutableRawPointer, gcm: AESGCM) throws(Errno) {
        if !codec.seal(extent: j, plain: plain, final: final, slot: slot, gcm: gcm) { throw Errno.EIO }
        if let n = header.budget.countSeal() { reportNonceBudget(n) }
    }

    /// One getrandom call for all the nonces of a request, placed at the start of each slot.
    func fillNonces(_ ws: Workspace, count: Int) {
        Random.fill(UnsafeMutableRawBufferPointer(start: ws.nonces, count: count * Self.nonce))
        for i in 0..<count {
            (ws.cipher.baseAddress! + i * Int(Self.S)).copyMemory(from: ws.nonces + i * Self.nonce, byteCount: Self.nonce)
        }
    }

    // MARK: Re-keying

    /// Re-encrypts extents [first, first + count) under the current file key (reading each with
    /// whichever key opens it). Holes stay holes. Returns the number of extents the file has.
    func convert(first: Int64, count: Int64) throws(Errno) -> Int64 {
        let bsize = try backingSize()
        let size = ExtentGeometry.plainSize(backingSize: bsize)
        let extents = (size + Self.P - 1) / Self.P
        var start = first
        while start < min(extents, first + count) {
            let last = min(extents, first + count, start + Int64(Workspace.extents)) - 1
            try convertBatch(start, last, size: size, backingSize: bsize)
            start = last + 1
        }
        return extents
    }

    /// One read, re-encryption in the buffer, one write for extents [first, last].
    private func convertBatch(_ first: Int64, _ last: Int64, size: Int64, backingSize bsize: Int64) throws(Errno) {
        let begin = ExtentGeometry.backingOffset(ofExtent: first)
        let want = Int(min(bsize, ExtentGeometry.backingOffset(ofExtent: last + 1)) - begin)
        let n = Int(last - first + 1)
        try fs.withWorkspace { (ws) throws(Errno) in
            let cbuf = ws.cipher.baseAddress!
            let got = try preadFully(cbuf, want, begin)
            Random.fill(UnsafeMutableRawBufferPointer(start: ws.nonces, count: n * Self.nonce))
            try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) in
                for j in first...last {
                    let i = Int(j - first)
                    let len = Int(min(Self.P, size - j * Self.P))
                    let slot = cbuf + i * Int(Self.S)
                    let stored = UnsafeRawBufferPointer(start: slot, count: max(0, min(len + ExtentGeometry.overhead, got - i * Int(Self.S))))
                    if !v2 && stored.count == len + ExtentGeometry.overhead && ExtentCodec.isAllZero(stored) { continue }  // a v1 hole
                    // A v2 final flag is kept as it was, so a crash leftover stays readable; a v1
                    // extent (or hole) moving to v2 is final only at the end.
                    let atEnd = j * Self.P + Int64(len) == size
                    let wasFinal = try decrypt(extent: j, stored: stored, plainLength: len, atEnd: atEnd, into: ws.plain, gcm: gcm)
                    let final = atEnd || wasFinal
                    slot.copyMemory(from: ws.nonces + i * Self.nonce, byteCount: Self.nonce)
                    try seal(extent: j, plain: UnsafeRawBufferPointer(start: ws.plain, count: len), final: final, slot: slot, gcm: gcm)
                }
            }
            try pwriteFully(cbuf, got, begin)
        }
    }

    // MARK: Truncation

    /// The largest plaintext size: its backing size must fit in an Int64 (writes use the same limit).
    static let maxPlainSize = Int64.max / 2

    func truncate(to newSize: Int64) throws(Errno) {
        if newSize < 0 || newSize > Self.maxPlainSize { throw Errno.EFBIG }
        let oldSize = try plainSize()
        if newSize == oldSize { return }
        let k = newSize / Self.P, r = Int(newSize % Self.P)
        if newSize < oldSize {
            // v2: the extent that the cut leaves at the end is sealed final before the cut, so a
            // crash at any point leaves a readable file.
            if v2 && k > 0 { try resealFinal(k - 1) }
            // Drop whole extents first, then re-encrypt the new last one shorter: a crash in between
            // leaves a shorter file, never an unreadable one.
            if r != 0 {
                let oldLen = Int(min(Self.P, oldSize - k * Self.P))
                try fs.withWorkspace { (ws) throws(Errno) in
                    try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) in
                        _ = try readExtent(k, plainLength: oldLen, atEnd: k * Self.P + Int64(oldLen) == oldSize, into: ws.plain, gcm: gcm, ws: ws)
                    }
                    _ = try sys { ftruncate(fd, off_t(ExtentGeometry.backingOffset(ofExtent: k))) }
                    try write(offset: k * Self.P, data: UnsafeRawBufferPointer(start: ws.plain, count: r))
                }
            } else {
                _ = try sys { ftruncate(fd, off_t(ExtentGeometry.backingSize(plainSize: newSize))) }
            }
        } else if v2 {
            // No holes: the new range is written as encrypted zeros (write fills the gap).
            var zero: UInt8 = 0
            try withUnsafeBytes(of: &zero) { (z) throws(Errno) in try write(offset: newSize - 1, data: z) }
        } else {
            let oldLast = oldSize / Self.P
            if oldSize % Self.P != 0 {
                let newLen = Int(min(Self.P, newSize - oldLast * Self.P))
                try resizeExtent(oldLast, oldSize: oldSize, newLength: newLen)
            }
            _ = try sys { ftruncate(fd, off_t(ExtentGeometry.backingSize(plainSize: newSize))) }
        }
    }

    /// Re-encrypts full middle extent `j` with the final flag (v2), in place.
    func resealFinal(_ j: Int64) throws(Errno) {
        try fs.withWorkspace { (ws) throws(Errno) in
            try fs.gcmContexts.withContext(key: header.fileKey, size: header.header.size) { (gcm) throws(Errno) in
                let plain = ws.plain, slot = ws.cipher.baseAddress!
                if try readExtent(j, plainLength: Int(Self.P), atEnd: false, into: plain, gcm: gcm, ws: ws) { return }  // already final
                fillNonces(ws, count: 1)
                try seal(extent: j, plain: UnsafeRawBufferPointer(start: plain, count: Int(Self.P)), final: true, slot: slot, gcm: gcm)
                try pwriteFully(slot, Int(Self.S), ExtentGeometry.backingOffset(ofExtent: j))
            }
        }
    }

    // MARK: Helpers

    func preadFully(_ p: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) throws(Errno) -> Int {
        var done = 0
        while done < count {
            let n = try sys { pread(fd, p + done, count - done, off_t(offset) + off_t(done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func pwriteFully(_ p: UnsafeRawPointer, _ count: Int, _ offset: Int64) throws(Errno) {
        var done = 0
        while done < count {
            let n = try sys { pwrite(fd, p + done, count - done, off_t(offset) + off_t(done)) }
            done += n
        }
    }
}
