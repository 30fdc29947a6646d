package checksum

// Block-size constants of rsync.h.
const (
	BlockSize       = 700     // default block length for files up to BlockSize² bytes
	MaxBlockSize    = 1 << 17 // largest block length from protocol 30 on
	OldMaxBlockSize = 1 << 29 // largest block length before protocol 30
	SumLength       = 16      // s2length cap, and csum_length of the redo pass
	ShortSumLength  = 2       // csum_length of the first pass
	blockSumBias    = 10
)

// SumSizes returns the block layout the generator announces for a basis file
// of fileLen bytes on the first pass (generator.c sum_sizes_sqroot):
// the block length, the strong-sum length sent per block, the number of
// blocks and the length of the last, short block (0 if none).
// blockSizeOpt is the client's --block-size (0 or less: none). kind is the
// transfer algorithm: s2length never exceeds its digest length. A negative
// fileLen or a block count beyond int32 yields count -1, which rsync treats
// as an error for that file.
func SumSizes(protocol int, fileLen int64, blockSizeOpt int32, kind Kind) (blength, s2length, count, remainder int32) {
	return sumSizes(protocol, fileLen, blockSizeOpt, kind, ShortSumLength)
}

// SumSizesRedo is SumSizes for the second pass, which re-sends files whose
// whole-file sum failed with full-length strong sums (csum_length =
// SUM_LENGTH).
func SumSizesRedo(protocol int, fileLen int64, blockSizeOpt int32, kind Kind) (blength, s2length, count, remainder int32) {
	return sumSizes(protocol, fileLen, blockSizeOpt, kind, SumLength)
}

func sumSizes(protocol int, fileLen int64, blockSizeOpt int32, kind Kind, csumLength int32) (blength, s2length, count, remainder int32) {
	if fileLen < 0 {
		return 0, 0, -1, 0
	}
	maxS2 := min(int32(SumLength), int32(kind.Size()))

	switch {
	case blockSizeOpt > 0:
		blength = blockSizeOpt
	case fileLen <= BlockSize*BlockSize:
		blength = BlockSize
	default:
		maxB := int32(MaxBlockSize)
		if protocol < 30 {
			maxB = OldMaxBlockSize
		}
		// c becomes 2^(bits(fileLen)/2), an upper bound of the square
		// root; int32 wrap-around to negative is part of rsync's test.
		c := int32(1)
		for l := fileLen >> 2; l != 0; l >>= 2 {
			c <<= 1
		}
		if c < 0 || c >= maxB {
			blength = maxB
		} else {
			// Build the largest multiple of 8 whose square is <= fileLen.
			for {
				blength |= c
				if fileLen < int64(blength)*int64(blength) {
					blength &^= c
				}
				c >>= 1
				if c < 8 {
					break
				}
			}
			blength = max(blength, BlockSize)
		}
	}

	switch {
	case protocol < 27:
		s2length = csumLength
	case csumLength == SumLength:
		s2length = maxS2
	default:
		// Bits needed so that a false match over the whole file stays
		// unlikely: about 2*log2(len) - log2(blength) + bias, minus the 32
		// bits the rolling sum already checks, rounded up to bytes.
		b := int32(blockSumBias)
		for l := fileLen >> 1; l != 0; l >>= 1 {
			b += 2
		}
		for c := blength >> 1; c != 0 && b != 0; c >>= 1 {
			b--
		}
		s2length = (b + 1 - 32 + 7) / 8 // truncates toward zero, as C does
		s2length = max(s2length, csumLength)
		s2length = min(s2length, maxS2)
	}

	remainder = int32(fileLen % int64(blength))
	n := fileLen / int64(blength)
	if remainder != 0 {
		n++
	}
	count = int32(n)
	if int64(count) != n {
		count = -1
	}
	return blength, s2length, count, remainder
}
