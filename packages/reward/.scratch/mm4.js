const tf=require('@tensorflow/tfjs'); require('@tensorflow/tfjs-backend-wasm');
(async()=>{await tf.setBackend(process.argv[2]||'wasm');
for (const [n,i,o] of [[1280,64,128],[200,768,3072]]) {
const x=tf.randomNormal([n,i]), dy=tf.randomNormal([n,o]);
const t=(name,f)=>{f().dataSync(); const t0=process.hrtime.bigint(); for(let k=0;k<5;k++){const y=f(); y.dataSync(); y.dispose();} console.log(n,i,o,name,Number(process.hrtime.bigint()-t0)/5e6,'ms');};
t('dW transposeA', ()=>tf.matMul(dy,x,true,false));
t('dW explicit', ()=>tf.tidy(()=>tf.matMul(tf.transpose(dy),x)));
}
const q=tf.randomNormal([2,12,200,64]), k=tf.randomNormal([2,12,200,64]);
const t=(name,f)=>{f().dataSync(); const t0=process.hrtime.bigint(); for(let j=0;j<5;j++){const y=f(); y.dataSync(); y.dispose();} console.log(name,Number(process.hrtime.bigint()-t0)/5e6,'ms');};
t('qk transposeB', ()=>tf.matMul(q,k,false,true));
t('qk explicit', ()=>tf.tidy(()=>tf.matMul(q,tf.transpose(k,[0,1,3,2]))));
})();
