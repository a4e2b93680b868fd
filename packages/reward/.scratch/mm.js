const tf=require('@tensorflow/tfjs'); require('@tensorflow/tfjs-backend-wasm');
(async()=>{await tf.setBackend(process.argv[2]||'wasm');
const x=tf.randomNormal([200,768]), w=tf.randomNormal([3072,768]);
const t=(name,f)=>{f().dataSync(); const t0=Date.now(); for(let i=0;i<3;i++){const y=f(); y.dataSync(); y.dispose();} console.log(name,(Date.now()-t0)/3,'ms');};
t('transposeB', ()=>tf.matMul(x,w,false,true));
t('explicit transpose', ()=>tf.tidy(()=>tf.matMul(x,tf.transpose(w))));
const wt=tf.transpose(w); t('pretransposed', ()=>tf.matMul(x,wt));
t('transpose only', ()=>tf.transpose(w));
})();
