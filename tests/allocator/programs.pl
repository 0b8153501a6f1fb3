# programs.pl - the perl workload of the real-programs test: hashes, arrays,
# strings, regular expressions, sort; prints only deterministic figures.
use strict;
use warnings;
my %h;
for my $i (1 .. 50000) { $h{"key$i"} = "v" x ($i % 100); }
my $total = 0;
$total += length($h{$_}) for sort keys %h;
print "hash ", scalar(keys %h), " $total\n";
my @a = map { $_ * 2 } 1 .. 100000;
print "array ", scalar(@a), " $a[-1]\n";
my $text = join(" ", map { "word" . ($_ * 7919 % 1009) } 1 .. 30000);
my @found = ($text =~ /word(\d*7)\b/g);
print "regex ", scalar(@found), "\n";
my @sorted = sort { $a <=> $b } map { ($_ * 7919) % 100003 } 1 .. 50000;
print "sort @sorted[0..4] $sorted[-1]\n";
my $s = "";
$s .= chr(65 + $_ % 26) for 1 .. 200000;
print "string ", length($s), " ", substr($s, 1000, 10), "\n";
