//! English number words, shared by the intent matcher (reading "twenty minutes") and the word
//! error rate's normalisation (writing "20" as "twenty"). Pure data.

/// "zero" to "nineteen", by value.
pub const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// "twenty" to "ninety": `TENS[i]` is 20 + 10 × i.
pub const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
