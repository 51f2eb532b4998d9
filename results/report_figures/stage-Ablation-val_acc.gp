# Drawn by the engine from stage-Ablation-val_acc.csv. Restyle here, then rerun from this folder:
#   gnuplot stage-Ablation-val_acc.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 900,560 noenhanced font "sans,11"
} else {
  set terminal png size 900,560 noenhanced
}
set output 'stage-Ablation-val_acc.png'
set datafile separator comma
set datafile columnheaders
set title "Stage Ablation: validation accuracy"
set xlabel "epoch"
set ylabel "val accuracy (%)"
set grid
set key outside right top
set xtics 4
plot 'stage-Ablation-val_acc.csv' using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "final", \
     '' using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "final-no-ema", \
     '' using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "final-no-smoothing", \
     '' using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "final-no-erasing", \
     '' using 1:6 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "final-no-cosine", \
     '' using 1:7 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "final-no-long"
