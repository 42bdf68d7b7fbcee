//! A deflate *bit walker* (RFC 1951): parses a raw deflate stream without producing output, to
//! find the exact bit where its final block ends and every bit a decoder skips without reading.
//!
//! The inflater (zlib-rs through flate2) says what a stream means, but not where inside its last
//! byte the stream ends, nor whether the bits it skips are zero: the alignment bits before a
//! stored block's length (§3.2.4) and the bits after the final block's end (§3.2.3, "any bits of
//! input up to the next byte boundary are ignored"). Those bits change nothing in the inflated
//! bytes, so neither the zip CRC-32 nor a manifest digest covers them; a flipped one is another
//! archive with the same meaning. [`super::stream_member`] feeds the walker the same chunks it
//! inflates and refuses a stream whose skipped bits are not all zero (`data.deflate-padding`) or
//! whose end the walker and the inflater place differently (`data.inflate`).
//!
//! Sans-I/O and streaming: [`DeflateWalker::feed`] takes the compressed bytes in chunks of any
//! size and keeps only the unfinished item between calls (a length/distance token, at most 6
//! bytes, or a dynamic block header, at most ~300 bytes), so members larger than memory walk in
//! constant space. Huffman codes decode through an 11-bit table (with the extra bits of lengths
//! and distances folded in, and a second table that skips runs of literals whole), longer codes
//! bit by bit.
//!
//! Cost (`cargo run --release -p xtask -- deflate-bench`, 64 MiB inputs deflated at level 6, one
//! core of a shared 2-core AMD EPYC VM): the walker reads 280-390 MB/s of compressed input, about
//! the speed of zlib-rs's inflate (210-340 MB/s); reading a deflated member as `verify` does
//! (inflate, walker, CRC-32, SHA-256) takes 1.6-1.7x as long as without the walker (text 1.59x,
//! machine code 1.58x, skewed bytes with few matches 1.68x, zeros 1.02x). Stored members are not
//! walked.
//!
//! The walker accepts every stream RFC 1951 allows (incomplete codes included, which zlib
//! refuses), so it never refuses what the inflater accepts; what it cannot decode the inflater
//! refuses too. What it cannot refuse are the encoder's free choices among encodings of the same
//! content ([`Choice`]: a distance for another with equal source bytes, the run-length coding of
//! a dynamic header's code lengths); it can record where they are. See
//! `format-spec/archive-rules-v1.md`, "Limits of the walker".

use std::ops::Range;
use std::sync::OnceLock;

/// Bits decoded by one table look-up.
const FAST_BITS: u32 = 11;
const FAST_MASK: u64 = (1 << FAST_BITS) - 1;
/// Longest Huffman code (§3.2.7).
const MAX_BITS: usize = 15;

/// Base lengths are not needed to find the end; only the extra bits of symbols 257..=285.
const LEN_EXTRA: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Extra bits of distance symbols 0..=29.
const DIST_EXTRA: [u32; 30] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// Order of the code length code lengths (§3.2.7).
const CL_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Why a stream could not be walked to its end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// The stream breaks RFC 1951 at this bit (counted from the start of the stream).
    #[error("deflate stream is invalid at bit {bit}: {what}")]
    Invalid {
        /// Bit offset of the item that could not be decoded.
        bit: u64,
        /// What is wrong, in words.
        what: &'static str,
    },
    /// The bytes ended before the final block did.
    #[error("deflate stream ends after {bytes} bytes, before its final block does")]
    Unfinished {
        /// Bytes fed.
        bytes: u64,
    },
}

/// Where a complete stream ends, and what it skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    /// Bits from the start of the stream to just past the final block.
    pub end_bit: u64,
    /// The first skipped bit (stored-block alignment or after the final block) that is one.
    pub nonzero_padding: Option<u64>,
    /// Bytes fed after the byte holding the last bit of the final block.
    pub trailing: u64,
}

impl StreamEnd {
    /// Bytes the stream occupies: [`StreamEnd::end_bit`] rounded up to a whole byte.
    pub fn len(&self) -> u64 {
        self.end_bit.div_ceil(8)
    }
    /// Always false: a deflate stream holds at least one block header.
    pub fn is_empty(&self) -> bool {
        self.end_bit == 0
    }
}

/// The streaming walker: [`DeflateWalker::feed`] the compressed bytes in order, then
/// [`DeflateWalker::finish`].
pub struct DeflateWalker {
    /// Unread bytes, `buf[0]` being byte `base` of the stream.
    buf: Vec<u8>,
    base: u64,
    /// Next unread bit (absolute, >= `base * 8`).
    bit: u64,
    state: State,
    nonzero_padding: Option<u64>,
    fed: u64,
    /// Where the encoder chose among equivalent encodings, when asked for.
    choices: Option<Vec<Choice>>,
}

/// Bits where an encoder chose among encodings of the same content, which the walker cannot
/// refuse (RFC 1951 leaves the choice to the encoder, and encoders choose differently).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What was chosen.
    pub kind: ChoiceKind,
    /// Bit range from the start of the stream.
    pub bits: Range<u64>,
}

/// Kinds of [`Choice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoiceKind {
    /// A match's distance code and extra bits: another distance whose source bytes are equal
    /// inflates to the same bytes.
    Distance,
    /// A dynamic block's run-length coded code lengths (§3.2.7): e.g. three zero lengths sent
    /// as the repeat code 17 or as three literal 0 codes give the same tables.
    CodeLengths,
}

enum State {
    /// Before a block header.
    Header,
    /// Inside a stored block: `left` bytes to skip.
    Stored { left: u32, last: bool },
    /// Inside a Huffman-coded block.
    Codes { tables: Tables, last: bool },
    /// Past the final block, which ends at this absolute bit.
    Done(u64),
    /// Refused.
    Failed(WalkError),
}

enum Tables {
    Fixed,
    Dynamic(Box<(Huffman, Huffman)>),
}

impl Tables {
    fn get(&self) -> (&Huffman, &Huffman) {
        match self {
            Tables::Fixed => {
                let f = fixed();
                (&f.0, &f.1)
            }
            Tables::Dynamic(b) => (&b.0, &b.1),
        }
    }
}

impl Default for DeflateWalker {
    fn default() -> Self {
        Self::new()
    }
}

impl DeflateWalker {
    /// A walker at the start of a stream.
    pub fn new() -> Self {
        DeflateWalker { buf: Vec::new(), base: 0, bit: 0, state: State::Header, nonzero_padding: None, fed: 0, choices: None }
    }

    /// A walker that also records the encoder's [`Choice`]s ([`DeflateWalker::choices`]): for
    /// tests and diagnostics of the malleability the walker cannot refuse.
    pub fn recording_choices() -> Self {
        DeflateWalker { choices: Some(Vec::new()), ..Self::new() }
    }

    /// The encoder's choices walked so far; empty unless made by
    /// [`DeflateWalker::recording_choices`].
    pub fn choices(&self) -> &[Choice] {
        self.choices.as_deref().unwrap_or_default()
    }

    /// Walks the next bytes of the stream. Bytes after the final block are only counted.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), WalkError> {
        self.fed += chunk.len() as u64;
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Done(_) => return Ok(()),
            _ => {}
        }
        // Keep only from the byte holding the next unread bit.
        let keep_from = (self.bit / 8 - self.base) as usize;
        self.buf.drain(..keep_from);
        self.base += keep_from as u64;
        self.buf.extend_from_slice(chunk);
        let base_bit = self.base * 8;
        let (rel, result) =
            run(&self.buf, (self.bit - base_bit) as usize, base_bit, &mut self.state, &mut self.nonzero_padding, self.choices.as_mut());
        self.bit = base_bit + rel as u64;
        if let Err(e) = result {
            self.state = State::Failed(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Whether the final block has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Where the stream ended, once every byte has been fed.
    pub fn finish(&self) -> Result<StreamEnd, WalkError> {
        match &self.state {
            State::Done(end) => {
                let len = end.div_ceil(8);
                Ok(StreamEnd { end_bit: *end, nonzero_padding: self.nonzero_padding, trailing: self.fed - len })
            }
            State::Failed(e) => Err(e.clone()),
            _ => Err(WalkError::Unfinished { bytes: self.fed }),
        }
    }
}

/// Why walking stopped inside an item.
enum Stop {
    /// More bytes are needed; the item is read again from its start.
    More,
    /// The stream is invalid.
    Bad(&'static str),
}

/// Walks `data` from bit `start` as far as it can; returns the bit to resume from (relative to
/// `data`), or why the stream is invalid. `base_bit` converts to absolute offsets.
fn run(
    data: &[u8],
    start: usize,
    base_bit: u64,
    state: &mut State,
    padding: &mut Option<u64>,
    mut choices: Option<&mut Vec<Choice>>,
) -> (usize, Result<(), WalkError>) {
    let mut r = Bits::at(data, start);
    loop {
        match state {
            State::Done(_) | State::Failed(_) => return (r.bit(), Ok(())),
            State::Header => {
                let save = r.save();
                match header(&mut r, base_bit, padding, choices.as_deref_mut()) {
                    Ok(next) => *state = next,
                    Err(Stop::More) => {
                        r.restore(save);
                        return (r.bit(), Ok(()));
                    }
                    Err(Stop::Bad(what)) => {
                        r.restore(save);
                        return (r.bit(), Err(WalkError::Invalid { bit: base_bit + r.bit() as u64, what }));
                    }
                }
            }
            State::Stored { left, last } => {
                // Byte-aligned here: skip whole bytes without decoding them.
                let at = r.bit();
                let avail = (data.len() * 8 - at) / 8;
                let n = (*left as usize).min(avail);
                r = Bits::at(data, at + n * 8);
                *left -= n as u32;
                if *left > 0 {
                    return (r.bit(), Ok(()));
                }
                *state = if *last { State::Done(base_bit + r.bit() as u64) } else { State::Header };
            }
            State::Codes { tables, last } => {
                let (lit, dist) = tables.get();
                match codes(&mut r, lit, dist, base_bit, choices.as_deref_mut()) {
                    Ok(()) => *state = if *last { State::Done(base_bit + r.bit() as u64) } else { State::Header },
                    Err(Stop::More) => return (r.bit(), Ok(())),
                    Err(Stop::Bad(what)) => return (r.bit(), Err(WalkError::Invalid { bit: base_bit + r.bit() as u64, what })),
                }
            }
        }
        if let State::Done(end) = state {
            // The bits up to the next byte boundary are ignored by decoders (§3.2.3); they are
            // in the byte that holds the end, which is in `data`.
            let pad = ((8 - *end % 8) % 8) as u32;
            if pad > 0 {
                let v = r.peek_available(pad);
                if v != 0 && padding.is_none() {
                    *padding = Some(*end + u64::from(v.trailing_zeros()));
                }
            }
        }
    }
}

/// A block header, and for a dynamic block its code tables (§3.2.3, §3.2.4, §3.2.7).
fn header(r: &mut Bits, base_bit: u64, padding: &mut Option<u64>, choices: Option<&mut Vec<Choice>>) -> Result<State, Stop> {
    let h = r.take(3)?;
    let last = h & 1 == 1;
    match h >> 1 {
        0 => {
            let pad = ((8 - r.bit() % 8) % 8) as u32;
            let at = r.bit();
            let v = r.take(pad)?;
            let len = r.take(16)?;
            let nlen = r.take(16)?;
            if len != !nlen & 0xFFFF {
                return Err(Stop::Bad("stored block length does not match its complement"));
            }
            if v != 0 && padding.is_none() {
                *padding = Some(base_bit + at as u64 + u64::from(v.trailing_zeros()));
            }
            Ok(State::Stored { left: len, last })
        }
        1 => Ok(State::Codes { tables: Tables::Fixed, last }),
        2 => {
            let (lit, dist, lengths) = dynamic(r)?;
            if let Some(v) = choices {
                v.push(Choice { kind: ChoiceKind::CodeLengths, bits: base_bit + lengths.start as u64..base_bit + lengths.end as u64 });
            }
            Ok(State::Codes { tables: Tables::Dynamic(Box::new((lit, dist))), last })
        }
        _ => Err(Stop::Bad("reserved block type 3")),
    }
}

/// The tables, and the bits of the run-length coded code lengths.
fn dynamic(r: &mut Bits) -> Result<(Huffman, Huffman, Range<usize>), Stop> {
    let hlit = r.take(5)? as usize + 257;
    let hdist = r.take(5)? as usize + 1;
    let hclen = r.take(4)? as usize + 4;
    if hlit > 286 || hdist > 30 {
        return Err(Stop::Bad("too many length or distance codes"));
    }
    let mut cl = [0u8; 19];
    for &i in &CL_ORDER[..hclen] {
        cl[i] = r.take(3)? as u8;
    }
    let clh = Huffman::new(&cl, Alphabet::CodeLen).map_err(Stop::Bad)?;
    let n = hlit + hdist;
    let start = r.bit();
    let mut lens = [0u8; 286 + 30];
    let mut i = 0;
    while i < n {
        r.refill();
        let sym = clh.decode(r)?;
        let (value, repeat) = match sym {
            0..=15 => (sym as u8, 1),
            16 => {
                if i == 0 {
                    return Err(Stop::Bad("repeat of a code length with no previous length"));
                }
                (lens[i - 1], 3 + r.take(2)? as usize)
            }
            17 => (0, 3 + r.take(3)? as usize),
            _ => (0, 11 + r.take(7)? as usize),
        };
        if i + repeat > n {
            return Err(Stop::Bad("code lengths repeat past the last code"));
        }
        lens[i..i + repeat].fill(value);
        i += repeat;
    }
    if lens[256] == 0 {
        return Err(Stop::Bad("no end-of-block code"));
    }
    let lit = Huffman::new(&lens[..hlit], Alphabet::LitLen).map_err(Stop::Bad)?;
    let dist = Huffman::new(&lens[hlit..n], Alphabet::Dist).map_err(Stop::Bad)?;
    Ok((lit, dist, start..r.bit()))
}

/// Symbols of a Huffman-coded block up to and including its end-of-block code (§3.2.5).
fn codes(r: &mut Bits, lit: &Huffman, dist: &Huffman, base_bit: u64, choices: Option<&mut Vec<Choice>>) -> Result<(), Stop> {
    match choices {
        None => codes_with::<false>(r, lit, dist, base_bit, &mut Vec::new()),
        Some(v) => codes_with::<true>(r, lit, dist, base_bit, v),
    }
}

fn codes_with<const RECORD: bool>(
    r: &mut Bits,
    lit: &Huffman,
    dist: &Huffman,
    base_bit: u64,
    choices: &mut Vec<Choice>,
) -> Result<(), Stop> {
    let record = |choices: &mut Vec<Choice>, bits: Range<usize>| {
        choices.push(Choice { kind: ChoiceKind::Distance, bits: base_bit + bits.start as u64..base_bit + bits.end as u64 });
    };
    loop {
        // Fast: while 8 bytes are left to load, one refill buffers at least 56 bits, enough for
        // the longest token (15 + 5 + 15 + 13 bits); the tables give each code's length with its
        // extra bits, which the walker skips without reading. The reader's state lives in
        // locals here, so that it stays in registers.
        let (data, mut pos, mut buf, mut cnt) = (r.data, r.pos, r.buf, r.cnt);
        let mut ended = false;
        while pos + 8 <= data.len() {
            let w = u64::from_le_bytes(data[pos..pos + 8].try_into().expect("8 bytes"));
            buf |= w << cnt;
            let take = (63 - cnt) / 8;
            pos += take as usize;
            cnt += take * 8;
            // Runs of literals, whose values the walker does not need: up to two table look-ups
            // (at most 2 * FAST_BITS bits) before the next refill.
            let run = u32::from(lit.runs[(buf & FAST_MASK) as usize]);
            if run != 0 {
                buf >>= run;
                let run2 = u32::from(lit.runs[(buf & FAST_MASK) as usize]);
                buf >>= run2;
                cnt -= run + run2;
                continue;
            }
            let e = lit.fast[(buf & FAST_MASK) as usize];
            match e.kind() {
                Kind::Length => {
                    let at = e.total();
                    let d = dist.fast[((buf >> at) & FAST_MASK) as usize];
                    if d.kind() == Kind::Symbol {
                        if RECORD {
                            let start = pos * 8 - cnt as usize + at as usize;
                            record(choices, start..start + d.total() as usize);
                        }
                        buf >>= at + d.total();
                        cnt -= at + d.total();
                        continue;
                    }
                }
                Kind::End => {
                    buf >>= e.total();
                    cnt -= e.total();
                    ended = true;
                }
                Kind::Symbol | Kind::Slow => {}
            }
            // The end of the block, or a long or invalid code for the careful path below.
            break;
        }
        (r.pos, r.buf, r.cnt) = (pos, buf, cnt);
        if ended {
            return Ok(());
        }
        // Careful: one token, every read checked; a token cut short is read again later.
        let save = r.save();
        match token(r, lit, dist) {
            Ok(Token::Literal) => {}
            Ok(Token::Match(d)) => {
                if RECORD {
                    record(choices, d);
                }
            }
            Ok(Token::End) => return Ok(()),
            Err(e) => {
                r.restore(save);
                return Err(e);
            }
        }
    }
}

enum Token {
    Literal,
    /// A length/distance pair; the bits of its distance.
    Match(Range<usize>),
    End,
}

/// One literal, length/distance pair or end-of-block, every read checked.
fn token(r: &mut Bits, lit: &Huffman, dist: &Huffman) -> Result<Token, Stop> {
    r.refill();
    let sym = lit.decode(r)? as usize;
    if sym < 256 {
        return Ok(Token::Literal);
    }
    if sym == 256 {
        return Ok(Token::End);
    }
    let extra = *LEN_EXTRA.get(sym - 257).ok_or(Stop::Bad("invalid literal/length symbol (286 or 287)"))?;
    r.take(extra)?;
    let start = r.bit();
    let d = dist.decode(r)? as usize;
    let extra = *DIST_EXTRA.get(d).ok_or(Stop::Bad("invalid distance symbol (30 or 31)"))?;
    r.take(extra)?;
    Ok(Token::Match(start..r.bit()))
}

/// Which symbols a code is for: how the fast table treats them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    /// Literal/length (§3.2.5): literals, end-of-block, lengths with extra bits; 286, 287 invalid.
    LitLen,
    /// Distances (§3.2.5): with extra bits; 30, 31 invalid.
    Dist,
    /// Code lengths (§3.2.7): plain symbols.
    CodeLen,
}

/// What a fast-table entry says about the next bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A code longer than the table, unassigned, or an invalid symbol: decode carefully.
    Slow,
    /// A literal, a distance, or a code length symbol.
    Symbol,
    /// A length symbol, to be followed by a distance.
    Length,
    /// End of block.
    End,
}

/// A fast-table entry: `symbol << 16 | kind << 12 | extra << 4 | code length`.
#[derive(Clone, Copy, Default)]
struct Entry(u32);

impl Entry {
    fn new(symbol: u16, kind: Kind, len: u32, extra: u32) -> Entry {
        let k = match kind {
            Kind::Slow => 0,
            Kind::Symbol => 1,
            Kind::Length => 2,
            Kind::End => 3,
        };
        Entry(u32::from(symbol) << 16 | k << 12 | extra << 4 | len)
    }
    #[inline(always)]
    fn kind(self) -> Kind {
        match self.0 >> 12 & 3 {
            1 => Kind::Symbol,
            2 => Kind::Length,
            3 => Kind::End,
            _ => Kind::Slow,
        }
    }
    #[inline(always)]
    fn len(self) -> u32 {
        self.0 & 15
    }
    /// Code length plus extra bits.
    #[inline(always)]
    fn total(self) -> u32 {
        (self.0 & 15) + (self.0 >> 4 & 15)
    }
    fn symbol(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

/// A canonical Huffman code (§3.2.2): a table for codes of up to [`FAST_BITS`] bits, and the
/// per-length counts and code-ordered symbols for decoding longer ones bit by bit.
struct Huffman {
    /// Indexed by the next `FAST_BITS` input bits.
    fast: Box<[Entry; 1 << FAST_BITS]>,
    /// Indexed the same way: the bits of the literals whose codes fit whole in `FAST_BITS`
    /// bits, 0 if the first code is not such a literal (literal/length codes only).
    runs: Box<[u8; 1 << FAST_BITS]>,
    counts: [u16; MAX_BITS + 1],
    symbols: Vec<u16>,
}

impl Huffman {
    /// Refuses over-subscribed codes; incomplete ones are allowed (an unassigned code is refused
    /// when it is read).
    fn new(lengths: &[u8], alphabet: Alphabet) -> Result<Huffman, &'static str> {
        let mut counts = [0u16; MAX_BITS + 1];
        for &l in lengths {
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        let mut left: i32 = 1;
        for &c in &counts[1..] {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return Err("over-subscribed Huffman code");
            }
        }
        let mut offsets = [0u16; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; offsets[MAX_BITS + 1] as usize];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offsets[l as usize] as usize] = sym as u16;
                offsets[l as usize] += 1;
            }
        }
        let mut fast = Box::new([Entry::default(); 1 << FAST_BITS]);
        let (mut code, mut index) = (0u32, 0usize);
        for (len, &count) in counts.iter().enumerate().skip(1) {
            for _ in 0..count {
                if len as u32 <= FAST_BITS {
                    let sym = symbols[index];
                    let (kind, extra) = match (alphabet, sym) {
                        (Alphabet::CodeLen, _) | (Alphabet::LitLen, 0..=255) => (Kind::Symbol, 0),
                        (Alphabet::LitLen, 256) => (Kind::End, 0),
                        (Alphabet::LitLen, 257..=285) => (Kind::Length, LEN_EXTRA[sym as usize - 257]),
                        (Alphabet::Dist, 0..=29) => (Kind::Symbol, DIST_EXTRA[sym as usize]),
                        _ => (Kind::Slow, 0),
                    };
                    // Codes are sent most significant bit first; the table is indexed by input
                    // bits in arrival order.
                    let rev = code.reverse_bits() >> (32 - len);
                    let entry = Entry::new(sym, kind, len as u32, extra);
                    let mut i = rev as usize;
                    while i < fast.len() {
                        fast[i] = entry;
                        i += 1 << len;
                    }
                }
                code += 1;
                index += 1;
            }
            code <<= 1;
        }
        let mut runs = Box::new([0u8; 1 << FAST_BITS]);
        if alphabet == Alphabet::LitLen {
            for (i, run) in runs.iter_mut().enumerate() {
                let mut bits = 0;
                loop {
                    let e = fast[(i >> bits) & FAST_MASK as usize];
                    if e.kind() != Kind::Symbol || bits + e.len() > FAST_BITS {
                        break;
                    }
                    bits += e.len();
                }
                *run = bits as u8;
            }
        }
        Ok(Huffman { fast, runs, counts, symbols })
    }

    /// The next symbol, every read checked.
    fn decode(&self, r: &mut Bits) -> Result<u16, Stop> {
        let e = self.fast[(r.buf & FAST_MASK) as usize];
        if e.kind() != Kind::Slow {
            // Bits beyond `r.cnt` are zero or the stream's next bits: a code that fits within
            // the buffered bits is the code.
            if e.len() > r.cnt {
                return Err(Stop::More);
            }
            r.consume(e.len());
            return Ok(e.symbol());
        }
        self.decode_slow(r)
    }

    /// Bit by bit, as zlib's `puff.c` does.
    #[cold]
    fn decode_slow(&self, r: &mut Bits) -> Result<u16, Stop> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            if len as u32 > r.cnt {
                return Err(Stop::More);
            }
            code |= ((r.buf >> (len - 1)) & 1) as i32;
            let count = i32::from(self.counts[len]);
            if code - count < first {
                r.consume(len as u32);
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Stop::Bad("invalid Huffman code"))
    }
}

/// The fixed literal/length and distance codes (§3.2.6). Distance symbols 30 and 31 have codes
/// but are invalid, as are literal/length symbols 286 and 287.
fn fixed() -> &'static (Huffman, Huffman) {
    static FIXED: OnceLock<(Huffman, Huffman)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lit = [8u8; 288];
        lit[144..256].fill(9);
        lit[256..280].fill(7);
        (Huffman::new(&lit, Alphabet::LitLen).expect("complete"), Huffman::new(&[5u8; 32], Alphabet::Dist).expect("complete"))
    })
}

/// Least-significant-bit-first reader over a byte slice. Bits above `cnt` in `buf` are zero or
/// the stream's next bits (a refill may load more than it counts).
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    buf: u64,
    cnt: u32,
}

impl<'a> Bits<'a> {
    /// A reader at bit `bit` of `data` (`bit <= data.len() * 8`).
    fn at(data: &'a [u8], bit: usize) -> Self {
        let mut b = Bits { data, pos: bit / 8, buf: 0, cnt: 0 };
        let skip = (bit % 8) as u32;
        if skip > 0 {
            b.refill();
            b.consume(skip);
        }
        b
    }

    /// Bits read so far, from the start of `data`.
    fn bit(&self) -> usize {
        self.pos * 8 - self.cnt as usize
    }

    fn save(&self) -> (usize, u64, u32) {
        (self.pos, self.buf, self.cnt)
    }

    fn restore(&mut self, s: (usize, u64, u32)) {
        (self.pos, self.buf, self.cnt) = s;
    }

    /// Buffers at least 56 bits; 8 bytes must be left to load.
    #[inline(always)]
    fn refill_fast(&mut self) {
        let w = u64::from_le_bytes(self.data[self.pos..self.pos + 8].try_into().expect("8 bytes"));
        self.buf |= w << self.cnt;
        let take = (63 - self.cnt) / 8;
        self.pos += take as usize;
        self.cnt += take * 8;
    }

    /// Buffers at least 56 bits, or every remaining bit.
    #[inline(always)]
    fn refill(&mut self) {
        if self.pos + 8 <= self.data.len() {
            self.refill_fast();
        } else {
            while self.cnt <= 56 && self.pos < self.data.len() {
                self.buf |= u64::from(self.data[self.pos]) << self.cnt;
                self.pos += 1;
                self.cnt += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.cnt -= n;
    }

    /// The next `n` bits (n <= 16), least significant first.
    #[inline(always)]
    fn take(&mut self, n: u32) -> Result<u32, Stop> {
        if n > self.cnt {
            self.refill();
            if n > self.cnt {
                return Err(Stop::More);
            }
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        Ok(v)
    }

    /// The next `n` bits without consuming them; bits past the data read as zero.
    fn peek_available(&mut self, n: u32) -> u32 {
        self.refill();
        (self.buf & ((1u64 << n) - 1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    fn deflate(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// What zlib-rs says: bytes consumed when the stream ended, or `None` if it did not end
    /// (corrupt or unfinished).
    fn zlib_end(stream: &[u8]) -> Option<u64> {
        let mut d = flate2::Decompress::new(false);
        let mut out = vec![0u8; 1 << 16];
        loop {
            let (before_in, before_out) = (d.total_in(), d.total_out());
            match d.decompress(&stream[d.total_in() as usize..], &mut out, flate2::FlushDecompress::None) {
                Ok(flate2::Status::StreamEnd) => return Some(d.total_in()),
                Ok(_) => {}
                Err(_) => return None,
            }
            if d.total_in() == before_in && d.total_out() == before_out {
                return None;
            }
        }
    }

    fn walk_in(stream: &[u8], chunk: usize) -> Result<StreamEnd, WalkError> {
        let mut w = DeflateWalker::new();
        for c in stream.chunks(chunk.max(1)) {
            w.feed(c)?;
        }
        w.finish()
    }

    /// Deterministic pseudo-random bytes (xorshift).
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn inputs() -> Vec<(&'static str, Vec<u8>)> {
        let text = b"#!/bin/sh\necho 'app 1.0.0'\n".repeat(4000);
        let mut mixed = noise(300_000, 7);
        for (i, b) in mixed.iter_mut().enumerate() {
            if (i / 5000) % 2 == 0 {
                *b = b"abcdefgh"[*b as usize % 8];
            }
        }
        vec![
            ("empty", Vec::new()),
            ("one byte", vec![b'x']),
            ("random 1 MiB", noise(1 << 20, 1)),
            ("repetitive", text),
            ("zeros", vec![0u8; 3 << 20]),
            ("mixed", mixed),
            ("all symbols", (0..=255u8).cycle().take(70_000).collect()),
        ]
    }

    #[test]
    fn the_end_is_where_zlib_stops_and_the_padding_is_zero() {
        for (name, data) in inputs() {
            for level in 0..=9 {
                let s = deflate(&data, level);
                for chunk in [1, 7, 4096, 256 << 10, usize::MAX] {
                    if chunk < 4096 && s.len() > 100_000 {
                        continue;
                    }
                    let end = walk_in(&s, chunk).unwrap_or_else(|e| panic!("{name} level {level} chunk {chunk}: {e}"));
                    assert_eq!(end.len(), s.len() as u64, "{name} level {level}");
                    assert_eq!(Some(end.len()), zlib_end(&s), "{name} level {level}");
                    assert!(end.end_bit > (s.len() as u64 - 1) * 8, "{name} level {level}: ends in the last byte");
                    assert_eq!(end.nonzero_padding, None, "{name} level {level}");
                    assert_eq!(end.trailing, 0);
                }
            }
        }
    }

    #[test]
    fn every_kind_of_block_is_walked() {
        // Level 0 writes stored blocks only; 1 byte at level 6 a fixed block; skewed letters a dynamic one.
        let first_type = |s: &[u8]| (s[0] >> 1) & 3;
        assert_eq!(first_type(&deflate(&noise(200_000, 3), 0)), 0);
        assert_eq!(first_type(&deflate(b"x", 6)), 1);
        let letters: Vec<u8> = noise(5000, 4).iter().map(|b| b"abcdefgh"[*b as usize % 8]).collect();
        assert_eq!(first_type(&deflate(&letters, 6)), 2);
        // A stored block in the middle: compressible, incompressible, compressible again.
        let mut data = b"abc".repeat(50_000);
        data.extend(noise(200_000, 9));
        data.extend(b"xyz".repeat(50_000));
        let s = deflate(&data, 6);
        assert_eq!(walk_in(&s, 1000).unwrap().len(), s.len() as u64);
    }

    #[test]
    fn hand_made_streams() {
        // Final stored block of length 0: header 001 then 5 alignment bits, LEN 0, NLEN 0xFFFF.
        let empty_stored = [0x01, 0x00, 0x00, 0xFF, 0xFF];
        let end = walk_in(&empty_stored, 1).unwrap();
        assert_eq!((end.end_bit, end.nonzero_padding), (40, None));
        assert_eq!(zlib_end(&empty_stored), Some(5));
        // Non-final empty stored block then a final fixed empty block (sync flush shape).
        let two = [0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];
        let end = walk_in(&two, 1).unwrap();
        assert_eq!((end.end_bit, end.len()), (40 + 10, 7));
        assert_eq!(zlib_end(&two), Some(7));
    }

    #[test]
    fn every_padding_bit_is_seen() {
        let mut seen = 0;
        for (data, level) in [(&b"x"[..], 6), (&b"hello hello hello world "[..], 9), (&b""[..], 1)] {
            let s = deflate(data, level);
            let end = walk_in(&s, usize::MAX).unwrap();
            let last = s.len() - 1;
            let used = (end.end_bit - last as u64 * 8) as u32;
            for bit in used..8 {
                seen += 1;
                let mut t = s.clone();
                t[last] ^= 1 << bit;
                assert_eq!(zlib_end(&t), Some(s.len() as u64), "zlib ignores the bit");
                let e = walk_in(&t, 1).unwrap();
                assert_eq!(e.nonzero_padding, Some(last as u64 * 8 + u64::from(bit)));
                assert_eq!(e.end_bit, end.end_bit);
            }
        }
        assert!(seen >= 10, "only {seen} padding bits");
        // A stored block's alignment bits.
        let mut s = deflate(&noise(1000, 5), 0);
        s[0] |= 0x80;
        assert_eq!(zlib_end(&s), Some(s.len() as u64), "zlib ignores the bit");
        assert_eq!(walk_in(&s, 3).unwrap().nonzero_padding, Some(7));
    }

    #[test]
    fn unfinished_invalid_and_trailing() {
        let s = deflate(&b"hello hello hello world ".repeat(100), 6);
        for cut in [0, 1, s.len() / 2, s.len() - 1] {
            assert!(matches!(walk_in(&s[..cut], 3), Err(WalkError::Unfinished { .. })), "cut at {cut}");
        }
        assert!(matches!(walk_in(&[0x07], 1), Err(WalkError::Invalid { what: "reserved block type 3", .. })));
        assert!(matches!(walk_in(&[0x01, 0, 0, 0, 0], 1), Err(WalkError::Invalid { .. })));
        let mut t = s.clone();
        t.extend_from_slice(b"hidden");
        let end = walk_in(&t, 5).unwrap();
        assert_eq!((end.len(), end.trailing), (s.len() as u64, 6));
    }

    /// Flipped and cut streams: whenever zlib-rs reaches the end of a stream, the walker reaches
    /// it at the same byte (the walker never refuses what the inflater accepts).
    #[test]
    fn agrees_with_zlib_on_damaged_streams() {
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        let small = [
            b"#!/bin/sh\necho 'app 1.0.0'\n".repeat(40),
            noise(5000, 11),
            (0..=255u8).cycle().take(20_000).collect(),
            inputs().remove(5).1[..20_000].to_vec(),
        ];
        for data in &small {
            for level in [0, 1, 6, 9] {
                seeds.push(deflate(data, level));
            }
        }
        let mut agreed = 0;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for s in &seeds {
            for _ in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut t = s.clone();
                let bit = (x as usize) % (t.len() * 8);
                t[bit / 8] ^= 1 << (bit % 8);
                if let Some(n) = zlib_end(&t) {
                    let w = walk_in(&t, 64).unwrap_or_else(|e| panic!("zlib accepts, walker: {e} (bit {bit})"));
                    assert_eq!(w.len(), n, "bit {bit}");
                    agreed += 1;
                }
            }
        }
        assert!(agreed > 100, "only {agreed} damaged streams inflated");
    }
}
