# Drawn by the engine from stage-3.2-val_acc.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-3.2-val_acc.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-3.2-val_acc.png'
set datafile separator comma
set datafile columnheaders
set title "Stage 3.2: validation accuracy"
set xlabel "epoch"
set ylabel "val accuracy (%)"
set grid
set key outside right top
set xtics 2
plot 'stage-3.2-val_acc.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "3.2-A", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "baseline", \
     '' using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "3.2-C"
