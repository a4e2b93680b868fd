const tf=require('@tensorflow/tfjs'); require('@tensorflow/tfjs-backend-wasm');
(async()=>{await tf.setBackend(process.argv[2]||'wasm');
for (const [n,i,o] of [[1280,64,128],[1280,128,64],[1280,64,64]]) {
const x=tf.randomNormal([n,i]), w=tf.randomNormal([o,i]);
const t=(name,f)=>{f().dataSync(); const t0=process.hrtime.bigint(); for(let k=0;k<20;k++){const y=f(); y.dataSync(); y.dispose();} console.log(n,i,o,name,Number(process.hrtime.bigint()-t0)/20e6,'ms');};
t('transposeB', ()=>tf.matMul(x,w,false,true));
t('explicit transpose', ()=>tf.tidy(()=>tf.matMul(x,tf.transpose(w))));
}
})();
