import json,sys,collections,glob,os
f=max(glob.glob('/tmp/ortprof*.json'),key=os.path.getmtime)
ev=json.load(open(f))
runs=[e for e in ev if e.get('name')=='model_run']
last=runs[-1]; t0=last['ts']
nodes=[e for e in ev if e.get('cat')=='Node' and e['name'].endswith('_kernel_time') and e['ts']>=t0]
agg=collections.Counter(); cnt=collections.Counter()
for e in nodes: agg[e['args'].get('op_name')]+=e['dur']; cnt[e['args'].get('op_name')]+=1
print('last run ms', last['dur']/1000, 'sum of nodes', sum(agg.values())/1000)
for op,d in agg.most_common(12): print(' ',op, round(d/1000,1),'ms', cnt[op])
if len(sys.argv)>1:
  nodes.sort(key=lambda e:-e['dur'])
  for e in nodes[:int(sys.argv[1])]: print(round(e['dur']/1000,1), e['args'].get('op_name'), e['name'][:40], [list(v.values())[0] for v in e['args'].get('input_type_shape',[])])
