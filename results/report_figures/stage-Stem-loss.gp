# Drawn by the engine from stage-Stem-loss.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Stem-loss.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Stem-loss.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Stem: loss, val solid, train dashed"
set xlabel "epoch"
set ylabel "cross-entropy loss"
set grid
set key outside right top
set xtics 1
plot 'stage-Stem-loss.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "7x7/s2 stem val", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "7x7/s2 stem train", \
     '' using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "3x3/s1 stem val", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#ff7f0e" title "3x3/s1 stem train"
