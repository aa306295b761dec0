import CP11Kit
import Glibc

/// A session on the PKCS#11 token that an RFC 7512 URI names, through p11-kit (URI parsing and
/// module loading): the module given by path, or p11-kit's proxy of every module registered on the
/// system. Logged in with the PIN, it finds (or makes) the AES key the URI names and encrypts and
/// decrypts with it (CKM_AES_GCM); the key never leaves the token (made sensitive and not
/// extractable). One token per command; closed and the module finalized when released.
public final class PKCS11Token {
    /// A key object on the token (CK_OBJECT_HANDLE).
    public typealias KeyHandle = CK_OBJECT_HANDLE
    /// The module whose token matched the URI.
    var module: UnsafeMutablePointer<CK_FUNCTION_LIST>!
    /// What was loaded: one module by path, or p11-kit's list of the system's registered modules.
    let loaded: Loaded
    let uri: OpaquePointer
    let uriText: String
    var session: CK_SESSION_HANDLE = 0
    var opened = false
    var closed = false

    enum Loaded {
        case one(UnsafeMutablePointer<CK_FUNCTION_LIST>)
        case registered(UnsafeMutablePointer<UnsafeMutablePointer<CK_FUNCTION_LIST>?>)

        var modules: [UnsafeMutablePointer<CK_FUNCTION_LIST>] {
            switch self {
            case .one(let m): return [m]
            case .registered(let list):
                var out: [UnsafeMutablePointer<CK_FUNCTION_LIST>] = []
                var i = 0
                while let m = list[i] { out.append(m); i += 1 }
                return out
            }
        }
    }

    /// `uri` must name a token (and, for the key, an object); a PIN in it (pin-value) is refused:
    /// the PIN comes from `pin` (a file's first line). Without `modulePath`, every module
    /// registered with p11-kit (/usr/share/p11-kit/modules) is searched for the token.
    public init(uri text: String, modulePath: String?, pin: SecureBytes?) throws(PKCS11Error) {
        guard let uri = p11_kit_uri_new() else { throw PKCS11Error(.setup, "out of memory") }
        let parsed = p11_kit_uri_parse(text, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri)
        guard parsed == 0 else {
            p11_kit_uri_free(uri)
            throw PKCS11Error(.badURI, "\(Self.redacted(text)) is not a pkcs11: URI (\(String(cString: p11_kit_uri_message(parsed))))")
        }
        if p11_kit_uri_get_pin_value(uri) != nil {
            p11_kit_uri_free(uri)
            throw PKCS11Error(.badURI, "the URI holds the PIN (pin-value), which would show in the process list: give --pkcs11-pin-file")
        }
        if let modulePath {
            guard let module = p11_kit_module_load(modulePath, 0) else {
                p11_kit_uri_free(uri)
                throw PKCS11Error(.setup, "cannot load the PKCS#11 module \(modulePath): \(String(cString: p11_kit_message()))")
            }
            let rv = p11_kit_module_initialize(module)
            guard rv == CKR_OK else {
                p11_kit_module_release(module)
                p11_kit_uri_free(uri)
                throw PKCS11Error.call("C_Initialize", rv, "the module \(modulePath)")
            }
            loaded = .one(module)
        } else {
            guard let list = p11_kit_modules_load_and_initialize(0) else {
                p11_kit_uri_free(uri)
                throw PKCS11Error(.setup, "cannot load the system's PKCS#11 modules: \(String(cString: p11_kit_message()))")
            }
            loaded = .registered(list)
        }
        self.uri = uri
        uriText = Self.redacted(text)
        do throws(PKCS11Error) {
            try openSession(pin: pin)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the session and finalizes and releases the module(s), once.
    func close() {
        guard !closed else { return }
        closed = true
        if opened { _ = module.pointee.C_CloseSession(session); opened = false }
        switch loaded {
        case .one(let m):
            _ = p11_kit_module_finalize(m)
            p11_kit_module_release(m)
        case .registered(let list):
            p11_kit_modules_finalize_and_release(list)
        }
        p11_kit_uri_free(uri)
    }

    /// The URI's pin-source, decoded (a file, or file:PATH); nil when it has none or is malformed.
    public static func pinSource(of text: String) -> String? {
        guard let uri = p11_kit_uri_new() else { return nil }
        defer { p11_kit_uri_free(uri) }
        guard p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, uri) == 0, let source = p11_kit_uri_get_pin_source(uri) else { return nil }
        return String(cString: source)
    }

    /// The URI without any pin-value or pin-source (for messages and tdefs.conf).
    public static func redacted(_ text: String) -> String {
        guard let q = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: q)...].split(separator: "&").filter { !$0.hasPrefix("pin-") }
        return String(text[..<q]) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    func openSession(pin: SecureBytes?) throws(PKCS11Error) {
        var chosen: (module: UnsafeMutablePointer<CK_FUNCTION_LIST>, slot: CK_SLOT_ID, flags: CK_FLAGS)?
        search: for candidate in loaded.modules {
            var count: CK_ULONG = 0
            guard candidate.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), nil, &count) == CKR_OK, count > 0 else { continue }
            var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
            guard candidate.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), &slots, &count) == CKR_OK else { continue }
            for slot in slots.prefix(Int(count)) {
                var info = CK_TOKEN_INFO()
                guard candidate.pointee.C_GetTokenInfo(slot, &info) == CKR_OK else { continue }
                if p11_kit_uri_match_token_info(uri, &info) == 1 {
                    chosen = (candidate, slot, info.flags)
                    break search
                }
            }
        }
        guard let chosen else { throw PKCS11Error(.tokenAbsent, "no token matches \(uriText)") }
        module = chosen.module
        let slot = chosen.slot
        if pin == nil && chosen.flags & CK_FLAGS(CKF_LOGIN_REQUIRED) != 0 {
            throw PKCS11Error(.setup, "the token of \(uriText) needs a PIN: give --pkcs11-pin-file (or pin-source in the URI)")
        }
        var rv: CK_RV
        rv = module.pointee.C_OpenSession(slot, CK_FLAGS(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil, &session)
        guard rv == CKR_OK else { throw .call("C_OpenSession", rv, uriText) }
        opened = true
        guard let pin else { return }
        rv = pin.withUnsafeBytes { p in
            module.pointee.C_Login(session, CK_USER_TYPE(CKU_USER),
                                   UnsafeMutablePointer(mutating: p.bindMemory(to: UInt8.self).baseAddress), CK_ULONG(p.count))
        }
        guard rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN else { throw .call("C_Login", rv, uriText) }
    }

    /// The AES secret key the URI names (object=, id=); nil when the token has none. Two matches
    /// are an error: the URI must say which.
    public func findKey() throws(PKCS11Error) -> CK_OBJECT_HANDLE? {
        var template = PKCS11Template()
        defer { template.free() }
        var n: CK_ULONG = 0
        if let given = p11_kit_uri_get_attributes(uri, &n) {
            for a in UnsafeBufferPointer(start: given, count: Int(n)) where a.type != CKA_CLASS {
                template.add(a.type, UnsafeRawBufferPointer(start: a.pValue, count: Int(a.ulValueLen)))
            }
        }
        guard template.count > 0 else { throw PKCS11Error(.setup, "\(uriText) names no key (give object= or id=)") }
        template.add(CK_ATTRIBUTE_TYPE(CKA_CLASS), ulong: CK_ULONG(CKO_SECRET_KEY))
        template.add(CK_ATTRIBUTE_TYPE(CKA_KEY_TYPE), ulong: CK_ULONG(CKK_AES))
        var rv = template.withAttributes { module.pointee.C_FindObjectsInit(session, $0, $1) }
        guard rv == CKR_OK else { throw .call("C_FindObjectsInit", rv, uriText) }
        var found = [CK_OBJECT_HANDLE](repeating: 0, count: 2)
        var got: CK_ULONG = 0
        rv = module.pointee.C_FindObjects(session, &found, 2, &got)
        _ = module.pointee.C_FindObjectsFinal(session)
        guard rv == CKR_OK else { throw .call("C_FindObjects", rv, uriText) }
        if got > 1 { throw PKCS11Error(.setup, "\(uriText) names more than one AES key: add id= or a longer object=") }
        return got == 1 ? found[0] : nil
    }

    /// Makes the AES-256 key the URI names (its object= label and id=) on the token: a token
    /// object, private, sensitive, not extractable, for encryption and decryption only.
    public func generateKey() throws(PKCS11Error) -> CK_OBJECT_HANDLE {
        var template = PKCS11Template()
        defer { template.free() }
        var n: CK_ULONG = 0
        if let given = p11_kit_uri_get_attributes(uri, &n) {
            for a in UnsafeBufferPointer(start: given, count: Int(n)) where a.type == CKA_LABEL || a.type == CKA_ID {
                template.add(a.type, UnsafeRawBufferPointer(start: a.pValue, count: Int(a.ulValueLen)))
            }
        }
        guard template.count > 0 else { throw PKCS11Error(.setup, "\(uriText) names no key to make (give object=)") }
        template.add(CK_ATTRIBUTE_TYPE(CKA_CLASS), ulong: CK_ULONG(CKO_SECRET_KEY))
        template.add(CK_ATTRIBUTE_TYPE(CKA_KEY_TYPE), ulong: CK_ULONG(CKK_AES))
        template.add(CK_ATTRIBUTE_TYPE(CKA_VALUE_LEN), ulong: 32)
        for flag in [CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT] { template.add(CK_ATTRIBUTE_TYPE(flag), bool: true) }
        for flag in [CKA_EXTRACTABLE, CKA_WRAP, CKA_UNWRAP] { template.add(CK_ATTRIBUTE_TYPE(flag), bool: false) }
        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_KEY_GEN), pParameter: nil, ulParameterLen: 0)
        var key: CK_OBJECT_HANDLE = 0
        let rv = template.withAttributes { module.pointee.C_GenerateKey(session, &mechanism, $0, $1, &key) }
        guard rv == CKR_OK else { throw .call("C_GenerateKey", rv, uriText) }
        return key
    }

    /// Destroys a key this token made (init failed after making it).
    public func destroy(_ key: CK_OBJECT_HANDLE) {
        _ = module.pointee.C_DestroyObject(session, key)
    }

    /// AES-GCM (96-bit IV, 128-bit tag) of `plain` under `key`, with `aad`: ciphertext | tag.
    public func encrypt(_ plain: SecureBytes, key: CK_OBJECT_HANDLE, iv: [UInt8], aad: [UInt8]) throws(PKCS11Error) -> [UInt8] {
        try plain.withUnsafeBytes { (p) throws(PKCS11Error) -> [UInt8] in
            try gcm(encrypt: true, key: key, iv: iv, aad: aad, input: p).bytes
        }
    }

    /// The plaintext of `wrapped` (ciphertext | tag), in locked memory; `.notAuthentic` when the
    /// tag does not check.
    public func decrypt(_ wrapped: [UInt8], key: CK_OBJECT_HANDLE, iv: [UInt8], aad: [UInt8]) throws(PKCS11Error) -> SecureBytes {
        let input = SecureBytes(copying: wrapped)  // not secret; a buffer that typed throws can use
        return try input.withUnsafeBytes { (p) throws(PKCS11Error) -> SecureBytes in
            try gcm(encrypt: false, key: key, iv: iv, aad: aad, input: p).secure
        }
    }

    /// One C_EncryptInit/C_Encrypt (or Decrypt) with CKM_AES_GCM; the output's buffer is zeroed
    /// after it is copied into locked memory.
    func gcm(encrypt: Bool, key: CK_OBJECT_HANDLE, iv: [UInt8], aad: [UInt8],
             input: UnsafeRawBufferPointer) throws(PKCS11Error) -> (bytes: [UInt8], secure: SecureBytes) {
        var ivCopy = iv, aadCopy = aad
        let name = encrypt ? "C_Encrypt" : "C_Decrypt"
        return try ivCopy.withUnsafeMutableBufferPointer { (ivp) throws(PKCS11Error) -> ([UInt8], SecureBytes) in
            try aadCopy.withUnsafeMutableBufferPointer { (aadp) throws(PKCS11Error) -> ([UInt8], SecureBytes) in
                var params = tdefs_gcm_params(ivp.baseAddress, CK_ULONG(ivp.count), aadp.baseAddress, CK_ULONG(aadp.count), 128)
                return try withUnsafeMutablePointer(to: &params) { (pp) throws(PKCS11Error) -> ([UInt8], SecureBytes) in
                    var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM), pParameter: UnsafeMutableRawPointer(pp),
                                                 ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                    var rv = encrypt ? module.pointee.C_EncryptInit(session, &mechanism, key)
                                     : module.pointee.C_DecryptInit(session, &mechanism, key)
                    guard rv == CKR_OK else { throw .call(name + "Init", rv, uriText) }
                    let inPtr = UnsafeMutablePointer(mutating: input.bindMemory(to: UInt8.self).baseAddress)
                    // The output's size first (a null buffer), as PKCS#11 has it: a token may add more than the tag.
                    var outLen: CK_ULONG = 0
                    rv = encrypt ? module.pointee.C_Encrypt(session, inPtr, CK_ULONG(input.count), nil, &outLen)
                                 : module.pointee.C_Decrypt(session, inPtr, CK_ULONG(input.count), nil, &outLen)
                    guard rv == CKR_OK, outLen <= CK_ULONG(input.count + 1024) else { throw .call(name, rv, uriText) }
                    var out = [UInt8](repeating: 0, count: max(Int(outLen), 1))
                    defer { out.withUnsafeMutableBytes { tdefs_zero($0) } }
                    rv = out.withUnsafeMutableBufferPointer { o in
                        encrypt ? module.pointee.C_Encrypt(session, inPtr, CK_ULONG(input.count), o.baseAddress, &outLen)
                                : module.pointee.C_Decrypt(session, inPtr, CK_ULONG(input.count), o.baseAddress, &outLen)
                    }
                    // A tag that does not check is CKR_ENCRYPTED_DATA_INVALID by the standard; SoftHSM2
                    // says CKR_GENERAL_ERROR, others CKR_FUNCTION_FAILED.
                    if !encrypt && [0x05, 0x06, 0x40, 0x41].contains(rv) {
                        throw PKCS11Error(.notAuthentic, "\(uriText): the token's key does not open the volume's wrapped key "
                                          + "(another key, or a damaged or copied record; C_Decrypt CKR 0x\(String(rv, radix: 16)))")
                    }
                    guard rv == CKR_OK, Int(outLen) <= out.count else { throw .call(name, rv, uriText) }
                    let result = out.withUnsafeBytes { SecureBytes(copying: $0.prefix(Int(outLen))) }
                    return (encrypt ? Array(out.prefix(Int(outLen))) : [], result)
                }
            }
        }
    }
}

/// A C_FindObjects or C_GenerateKey template whose values it owns (freed by `free()`).
struct PKCS11Template {
    var attributes: [CK_ATTRIBUTE] = []
    var count: Int { attributes.count }

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, _ value: UnsafeRawBufferPointer) {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(value.count, 1), alignment: 8)
        if let base = value.baseAddress, value.count > 0 { copy.copyMemory(from: base, byteCount: value.count) }
        attributes.append(CK_ATTRIBUTE(type: type, pValue: copy, ulValueLen: CK_ULONG(value.count)))
    }

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, ulong: CK_ULONG) {
        var v = ulong
        withUnsafeBytes(of: &v) { add(type, $0) }
    }

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, bool: Bool) {
        var v = CK_BBOOL(bool ? CK_TRUE : CK_FALSE)
        withUnsafeBytes(of: &v) { add(type, $0) }
    }

    mutating func withAttributes<R>(_ body: (UnsafeMutablePointer<CK_ATTRIBUTE>, CK_ULONG) -> R) -> R {
        attributes.withUnsafeMutableBufferPointer { body($0.baseAddress!, CK_ULONG($0.count)) }
    }

    func free() { for a in attributes { a.pValue?.deallocate() } }
}
