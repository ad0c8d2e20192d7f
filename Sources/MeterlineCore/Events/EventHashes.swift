// The hashes an event's parse computes besides its fields: the identity's source part, the dimensions of each
// reading, and the memo that spares re-hashing values a stream repeats (`ShortHashMemo`). Split from EventParser.swift,
// whose `validate` calls them; must never import anything but the standard library.

extension EventParser {
    @inlinable
    static func combineString(_ h: inout Hasher128, _ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) {
        if ref.escaped {
            let u = JSONScanner.unescape(base, ref)
            u.withUnsafeBytes { h.combine($0) }
        } else {
            h.combine(UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end]))
        }
    }

    /// The hash of a meter's (name, value) list: each name, then 1 and the value's bytes, or 0 when absent or null.
    /// It starts from the state after the first name (the same for every reading of the meter).
    @inline(__always)
    func hashDimensions(_ s: JSONScanner, _ data: JSONValueRef?, _ slots: DataSlots, _ meterIndex: Int,
                        _ m: ParserPlan.MeterPlan) throws(Rejection) -> Hash128 {
        var hd = m.firstNameState
        var g = m.groupStart
        while g < m.groupEnd {
            let group = plan.groups[g]
            if g != m.groupStart {
                plan.names.withUnsafeBytes { hd.combine(UnsafeRawBufferPointer(rebasing: $0[group.nameStart..<group.nameEnd])) }
            }
            let found: JSONValueRef?
            if let d = data {
                found = group.slot >= 0 ? slots[group.slot]
                    : catalog.meters[meterIndex].groupBy[g &- m.groupStart].path.locate(in: s, container: d)
            } else {
                found = nil
            }
            if let v = found {
                switch v.kind {
                case .string: hd.combine(1); EventParser.combineString(&hd, s.base, v)
                case .number, .trueValue, .falseValue:
                    hd.combine(1); hd.combine(UnsafeRawBufferPointer(rebasing: s.base[v.start..<v.end]))
                case .null: hd.combine(0)
                case .object, .array:
                    throw notScalar(meterIndex, g &- m.groupStart)
                }
            } else {
                hd.combine(0)
            }
            g &+= 1
        }
        return m.groupStart == m.groupEnd ? m.noDimensions : hd.finalize()
    }

    /// The value of a one-group meter's dimension when `ShortHashMemo` may key it: a plain (unescaped) string, a
    /// number or a boolean, whose hashed bytes are its text between `start` and `end`. Nil for anything else
    /// (absent, null, escaped, a container, a value only a path lookup finds), which `hashDimensions` handles. Slots
    /// are filled from `data` only, so an event without `data` gets nil here too.
    @inline(__always)
    func oneGroupValue(_ slots: DataSlots, _ g: Int) -> JSONValueRef? {
        let group = plan.groups[g]
        guard group.slot >= 0, let v = slots[group.slot] else { return nil }
        switch v.kind {
        case .string: return v.escaped ? nil : v
        case .number, .trueValue, .falseValue: return v
        default: return nil
        }
    }

    /// A `Hasher128` that has combined the source `ref` (a fresh hasher's state after it, memoized for a short plain source).
    @inline(__always)
    mutating func sourceState(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Hasher128 {
        var h = Hasher128()
        guard !ref.escaped, let k = ShortHashMemo.key(base, ref.start, ref.end, namespace: 0) else {
            EventParser.combineString(&h, base, ref)
            return h
        }
        if let known = hashMemo.lookup(k) { return Hasher128(a: known.0, b: known.1, length: known.2) }
        h.combine(UnsafeRawBufferPointer(rebasing: base[ref.start..<ref.end]))
        memoize(k, (h.a, h.b, h.length))
        return h
    }

    /// Stores a result in the memo, copying the memo first when another parser shares it.
    @inline(never)
    mutating func memoize(_ k: ShortHashMemo.Key, _ v: ShortHashMemo.Value) {
        if !isKnownUniquelyReferenced(&hashMemo) { hashMemo = hashMemo.copy() }
        hashMemo.store(k, v)
    }
}
